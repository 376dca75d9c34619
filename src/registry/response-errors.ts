/**
 * Registry error responses (`{"errors":[{"code":"MANIFEST_UNKNOWN","message":…}]}`) → our typed errors, worded like
 * docker (`manifest unknown: manifest unknown`).
 */
import {
  type BunkerError,
  ForbiddenError,
  NotFoundError,
  SystemError,
  UnauthorizedError,
  UnavailableError,
} from "../errors.ts";

export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

function isErrorEntry(value: unknown): value is RegistryErrorEntry {
  return (
    typeof value === "object" &&
    value !== null &&
    "code" in value &&
    typeof value.code === "string" &&
    (!("message" in value) || typeof value.message === "string")
  );
}

/** The `errors` array of a registry response body; empty when the body is not in that format (or is HEAD's). */
export async function readRegistryErrors(response: Response): Promise<RegistryErrorEntry[]> {
  let body: unknown;
  try {
    body = JSON.parse(await response.text());
  } catch {
    return [];
  }
  if (typeof body !== "object" || body === null || !("errors" in body) || !Array.isArray(body.errors)) return [];
  return body.errors.filter(isErrorEntry).map((entry) => ({ ...entry, message: entry.message ?? "" }));
}

/** `MANIFEST_UNKNOWN` + `manifest unknown` → `manifest unknown: manifest unknown` (distribution's errcode format). */
export function formatRegistryErrors(entries: readonly RegistryErrorEntry[]): string {
  return entries
    .map((entry) => {
      const code = entry.code.toLowerCase().replaceAll("_", " ");
      return entry.message ? `${code}: ${entry.message}` : code;
    })
    .join("; ");
}

export interface ErrorContext {
  /** Prefix for 404s, e.g. `manifest for 127.0.0.1:5000/x:latest not found: `. */
  notFoundPrefix?: string;
  /** Prefix for 401/403, e.g. `pull access denied for x, repository does not exist or may require 'docker login': `. */
  deniedPrefix?: string;
  /** `Get "http://…/v2/…"`, used when the body says nothing better. */
  request: string;
}

/** Maps a failed registry response to a typed error; consumes the body. */
export async function errorFromResponse(response: Response, context: ErrorContext): Promise<BunkerError> {
  const text = formatRegistryErrors(await readRegistryErrors(response));
  const status = `${response.status} ${response.statusText}`.trim();
  switch (response.status) {
    case 401:
      return new UnauthorizedError((context.deniedPrefix ?? "") + (text || "unauthorized: authentication required"));
    case 403:
      return new ForbiddenError((context.deniedPrefix ?? "") + (text || "denied: requested access to the resource is denied"));
    case 404:
      return new NotFoundError(`${context.notFoundPrefix ?? `${context.request}: `}${text || "not found"}`);
    case 429:
      return new UnavailableError(text || "toomanyrequests: too many requests");
    default:
      return new SystemError(`${context.request}: ${text || `received unexpected HTTP status: ${status}`}`);
  }
}
