import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import { chmodSync, existsSync, readFileSync, unlinkSync } from "node:fs";
import { HttpConnection, type ConnectionOptions } from "./connection";

export type ListenAddress =
  | { kind: "unix"; path: string }
  | { kind: "tcp"; hostname: string; port: number; tls?: TlsFiles };

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  /** --tlsverify: require and verify client certificates (mutual TLS). */
  verifyClients: boolean;
}

type Listener = UnixSocketListener<HttpConnection> | TCPSocketListener<HttpConnection>;

/** Parse a `-H` value: `unix:///path`, `tcp://host:port`, `fd://` is not supported. */
export function parseListenAddress(spec: string, tls?: TlsFiles): ListenAddress {
  if (spec.startsWith("unix://")) {
    const path = spec.slice("unix://".length);
    if (!path.startsWith("/")) throw new Error(`invalid unix socket address ${spec}: path must be absolute`);
    return { kind: "unix", path };
  }
  if (spec.startsWith("tcp://")) {
    const url = new URL(spec.replace(/^tcp:/, "http:"));
    const port = Number(url.port || (tls ? 2376 : 2375));
    return { kind: "tcp", hostname: url.hostname.replace(/^\[|\]$/g, ""), port, tls };
  }
  if (spec.startsWith("/")) return { kind: "unix", path: spec };
  throw new Error(`invalid host address ${spec}: use unix:///path or tcp://host:port`);
}

/** The HTTP front end: one listener per address, every connection an HttpConnection. */
export class HttpServer {
  private listeners: Listener[] = [];
  private connections = new Set<Socket<HttpConnection>>();

  constructor(private readonly options: ConnectionOptions) {}

  listen(address: ListenAddress): void {
    const socket = {
      open: (s: Socket<HttpConnection>) => {
        s.data = new HttpConnection(s as Socket<unknown>, this.options);
        this.connections.add(s);
      },
      data: (s: Socket<HttpConnection>, d: Uint8Array) => s.data.onData(d),
      drain: (s: Socket<HttpConnection>) => s.data.onDrain(),
      end: (s: Socket<HttpConnection>) => s.data.onEnd(),
      close: (s: Socket<HttpConnection>) => {
        this.connections.delete(s);
        s.data?.onClose();
      },
      error: (s: Socket<HttpConnection>, err: Error) => {
        this.options.onError(err);
        s.data?.onClose();
      },
    };
    if (address.kind === "unix") {
      if (existsSync(address.path)) unlinkSync(address.path);
      const listener = Bun.listen<HttpConnection>({ unix: address.path, socket, allowHalfOpen: true } as Parameters<typeof Bun.listen<HttpConnection>>[0]);
      chmodSync(address.path, 0o660);
      this.listeners.push(listener);
      return;
    }
    const tls = address.tls
      ? {
          ca: readFileSync(address.tls.ca),
          cert: readFileSync(address.tls.cert),
          key: readFileSync(address.tls.key),
          requestCert: address.tls.verifyClients,
          rejectUnauthorized: address.tls.verifyClients,
        }
      : undefined;
    const listener = Bun.listen<HttpConnection>({ hostname: address.hostname, port: address.port, socket, allowHalfOpen: true, tls });
    this.listeners.push(listener);
  }

  /** Actual TCP ports (for port 0). */
  ports(): number[] {
    return this.listeners.flatMap((l) => ("port" in l && typeof l.port === "number" ? [l.port] : []));
  }

  /** Stop accepting; optionally drop open connections. Unix socket files are removed. */
  stop(closeConnections: boolean): void {
    for (const l of this.listeners) {
      const path = "unix" in l ? (l as UnixSocketListener<HttpConnection>).unix : null;
      l.stop(closeConnections);
      if (path && existsSync(path)) unlinkSync(path);
    }
    this.listeners = [];
    if (closeConnections) for (const c of this.connections) c.end();
  }
}
