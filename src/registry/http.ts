/**
 * The one place that calls `fetch` for the registry code: turns transport failures into SystemError with a
 * docker-like message (`Get "http://…": connection refused`) and keeps the original error as `cause`.
 */
import { SystemError } from "../errors.ts";

const FRIENDLY_CODES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  ETIMEDOUT: "i/o timeout",
  ENOTFOUND: "no such host",
  DNSResolveFailed: "no such host",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
};

/** `Get`, `Head`, … as Go's net/http prints them (docker's messages come from there). */
export function methodLabel(method: string): string {
  return method.charAt(0).toUpperCase() + method.slice(1).toLowerCase();
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** Human text for a transport error (`connection refused`), falling back to the error's own message. */
export function describeTransportError(err: unknown): string {
  const code = errorCode(err);
  const friendly = code ? FRIENDLY_CODES[code] : undefined;
  if (friendly) return friendly;
  if (err instanceof Error && err.name === "AbortError") return "request aborted";
  if (err instanceof Error && err.name === "TimeoutError") return "i/o timeout";
  return err instanceof Error ? err.message : String(err);
}

/** True for an abort the caller asked for (as opposed to a dropped connection). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || errorCode(err) === "ABORT_ERR");
}

/** A request that never got a complete answer (refused, reset, timed out): worth retrying. */
export class TransportError extends SystemError {}

/** fetch() that throws TransportError (or rethrows the caller's abort) instead of a bare TypeError. */
export async function send(url: string, init: RequestInit): Promise<Response> {
  const method = init.method ?? "GET";
  try {
    return await fetch(url, init);
  } catch (err) {
    if (isAbortError(err) && init.signal?.aborted) throw err;
    throw new TransportError(`${methodLabel(method)} ${JSON.stringify(url)}: ${describeTransportError(err)}`, {
      cause: err,
    });
  }
}
