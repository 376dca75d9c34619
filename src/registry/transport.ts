/**
 * Authenticated requests to one registry endpoint: adds User-Agent and Authorization, answers a 401 challenge once,
 * and follows redirects itself so credentials never leak to another origin (blob storage redirects).
 */
import { SystemError } from "../errors.ts";
import { type Authenticator, type RegistryCredentials } from "./auth.ts";
import type { RegistryEndpoint } from "./endpoint.ts";
import { methodLabel, send } from "./http.ts";

export interface RegistryRequest {
  method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** `/v2/...` relative to the endpoint, or an absolute URL (upload Location). */
  path: string;
  headers?: Record<string, string>;
  /** Only replayable bodies: a 401 answer makes us send it again. */
  body?: Uint8Array | Blob | string;
  /** Token scopes the operation needs (`repository:x:pull`). */
  scopes: readonly string[];
  credentials?: RegistryCredentials;
  /** Send without Authorization and return a 401 as is (the login probe). */
  anonymous?: boolean;
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Resolves `path` (absolute, or relative like a Location header) against the endpoint. */
export function endpointUrl(endpoint: RegistryEndpoint, path: string): string {
  if (/^https?:\/\//.test(path)) return path;
  return path.startsWith("/v2/") || path === "/v2/" ? endpoint.url + path : new URL(path, `${endpoint.url}/`).toString();
}

/** `Get "http://…"`: how docker prefixes errors about one request. */
export function describeRequest(method: string, url: string): string {
  return `${methodLabel(method)} ${JSON.stringify(url)}`;
}

export class RegistryTransport {
  constructor(
    private readonly authenticator: Authenticator,
    private readonly userAgent: string,
  ) {}

  /** Sends the request; the caller maps non-2xx statuses (401 included, after one authenticated retry). */
  async request(endpoint: RegistryEndpoint, req: RegistryRequest): Promise<Response> {
    const url = endpointUrl(endpoint, req.path);
    const origin = new URL(url).origin;
    if (req.anonymous) return this.sendFollowing(url, req, undefined);
    const authorization = await this.authenticator.authorization(origin, req.scopes, req.credentials);
    let response = await this.sendFollowing(url, req, authorization);
    if (response.status !== 401) return response;
    await response.body?.cancel();
    const answer = await this.authenticator.answerChallenge(origin, response, req.scopes, req.credentials);
    response = await this.sendFollowing(url, req, answer);
    return response;
  }

  private async sendFollowing(url: string, req: RegistryRequest, authorization: string | undefined): Promise<Response> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hop = 0; ; hop++) {
      const sameOrigin = new URL(current).origin === origin;
      const headers: Record<string, string> = { "User-Agent": this.userAgent, ...req.headers };
      if (authorization && sameOrigin) headers.Authorization = authorization;
      const response = await send(current, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        signal: req.signal,
      });
      if (!REDIRECT_STATUSES.has(response.status)) return response;
      const location = response.headers.get("location");
      await response.body?.cancel();
      if (!location) throw new SystemError(`${describeRequest(req.method, current)}: redirect without Location`);
      if (hop >= MAX_REDIRECTS) throw new SystemError(`${describeRequest(req.method, url)}: stopped after ${MAX_REDIRECTS} redirects`);
      if (req.method !== "GET" && req.method !== "HEAD") {
        throw new SystemError(`${describeRequest(req.method, current)}: unexpected redirect to ${location}`);
      }
      current = new URL(location, current).toString();
    }
  }
}
