import { COMMON_HEADERS } from "./app";
import { PING_HEADERS } from "./routes/system";
import { API_VERSION, compareApiVersions, MIN_API_VERSION } from "./version";

function render(withBody: boolean): Uint8Array {
  const headers = { ...COMMON_HEADERS, ...PING_HEADERS, "Content-Length": "2" };
  const head = `HTTP/1.1 200 OK\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`;
  return Buffer.from(withBody ? `${head}OK` : head);
}

const GET = render(true);
const HEAD = render(false);
const PING = /^(?:\/v(\d+\.\d+))?\/_ping(?:\?.*)?$/;

/**
 * `/_ping` answered without building a Request or routing: every docker client sends one before anything else,
 * and health checks poll it. Same bytes as the routed answer; anything unusual goes the normal way.
 */
export function fastPing(method: string, target: string): Uint8Array | null {
  if (method !== "GET" && method !== "HEAD") return null;
  const m = PING.exec(target);
  if (!m) return null;
  const version = m[1];
  if (version && (compareApiVersions(version, MIN_API_VERSION) < 0 || compareApiVersions(version, API_VERSION) > 0)) return null;
  return method === "GET" ? GET : HEAD;
}
