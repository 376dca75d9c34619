/**
 * The CLI's client of the Docker Engine API (the CLI never imports daemon code). Requests go over a unix
 * socket or TCP with Bun's fetch; the API version is negotiated with `HEAD /_ping` like docker's client.
 */
export const CLIENT_MAX_API = "1.51";
export const DEFAULT_HOST = "unix:///run/bunker.sock";

export class DaemonError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class ConnectError extends Error {}

export function resolveHost(flag: string | undefined): string {
  return flag || process.env.BUNKER_HOST || process.env.DOCKER_HOST || DEFAULT_HOST;
}

function compare(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am !== bm ? am - bm : an - bn;
}

export type Query = Record<string, string | number | boolean | undefined | string[]>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  /** Raw body (tar streams): sent as-is. */
  rawBody?: RequestInit["body"];
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class Client {
  private version: string | null = null;
  private readonly unixPath: string | null;
  private readonly base: string;

  constructor(readonly host: string) {
    if (host.startsWith("unix://")) {
      this.unixPath = host.slice("unix://".length);
      this.base = "http://localhost";
    } else if (host.startsWith("tcp://")) {
      this.unixPath = null;
      this.base = host.replace(/^tcp:/, "http:");
    } else {
      throw new Error(`invalid host ${host}: use unix:///path or tcp://host:port`);
    }
  }

  async apiVersion(): Promise<string> {
    if (this.version) return this.version;
    const pinned = process.env.DOCKER_API_VERSION;
    if (pinned) return (this.version = pinned);
    const res = await this.raw("HEAD", "/_ping", {});
    const server = res.headers.get("api-version");
    this.version = !server ? "1.24" : compare(server, CLIENT_MAX_API) < 0 ? server : CLIENT_MAX_API;
    return this.version;
  }

  private url(path: string, query?: Query, version?: string): string {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) qs.append(k, item);
      else qs.set(k, typeof v === "boolean" ? (v ? "1" : "0") : String(v));
    }
    const q = qs.toString();
    return `${this.base}${version ? `/v${version}` : ""}${path}${q ? `?${q}` : ""}`;
  }

  private async raw(method: string, path: string, opts: RequestOptions, version?: string): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    let body: RequestInit["body"] | undefined = opts.rawBody;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    try {
      return await fetch(this.url(path, opts.query, version), {
        method,
        headers,
        body,
        signal: opts.signal,
        unix: this.unixPath ?? undefined,
        // Streaming uploads.
        duplex: "half",
      } as RequestInit);
    } catch (err) {
      throw new ConnectError(`Cannot connect to the Bunker daemon at ${this.host}. Is the bunker daemon running? (${(err as Error).message})`);
    }
  }

  /** A request whose non-2xx answer becomes a DaemonError carrying the daemon's message. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const version = await this.apiVersion();
    const res = await this.raw(method, path, opts, version);
    if (res.status >= 400) {
      const text = await res.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? text;
      } catch {}
      throw new DaemonError(res.status, message.trim());
    }
    return res;
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Iterate a JSON-lines response (pull progress, events, build output). */
  async *jsonLines<T>(res: Response): AsyncGenerator<T> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of res.body) {
      pending += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line) yield JSON.parse(line) as T;
      }
    }
    if (pending.trim()) yield JSON.parse(pending) as T;
  }

  /** Where to connect for a hijacked (Upgrade: tcp) request. */
  get endpoint(): { unix: string } | { hostname: string; port: number } {
    if (this.unixPath) return { unix: this.unixPath };
    const u = new URL(this.base);
    return { hostname: u.hostname, port: Number(u.port || 2375) };
  }

  async versionedPath(path: string, query?: Query): Promise<string> {
    const v = await this.apiVersion();
    return this.url(path, query, v).slice(this.base.length);
  }
}
