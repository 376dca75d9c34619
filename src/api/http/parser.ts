/**
 * HTTP/1.1 request-head parsing and a streaming chunked-body decoder. Pure functions over bytes so the
 * connection state machine stays small and the limits live in one place.
 */
export const LIMITS = {
  /** Request line + headers. Docker's own limit is 1 MiB; 64 KiB is ample for every client we know. */
  maxHeadBytes: 64 * 1024,
  maxHeaderCount: 200,
  /** A buffered (non-streaming) request body. Streaming endpoints are exempt. */
  maxBufferedBody: 16 * 1024 * 1024,
  maxChunkSizeLine: 1024,
} as const;

export class HttpParseError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface RequestHead {
  method: string;
  target: string;
  version: "HTTP/1.1" | "HTTP/1.0";
  /** The header fields as received (names as sent): what the Request is built from. */
  fields: [string, string][];
  /** Values by lower-case name, a repeated field's values joined with ", " as `Headers.get` does. */
  headers: Map<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Returns the index just past the blank line ending the head, or -1 when more bytes are needed. */
export function findHeadEnd(buf: Buffer): number {
  const i = buf.indexOf(CRLFCRLF);
  if (i === -1) {
    if (buf.length > LIMITS.maxHeadBytes) throw new HttpParseError("request header too large", 431);
    return -1;
  }
  if (i + 4 > LIMITS.maxHeadBytes) throw new HttpParseError("request header too large", 431);
  return i + 4;
}

/**
 * The head in `buf` up to `end` (as `findHeadEnd` found it). Plain strings and a Map rather than a `Headers`: most
 * requests only need a few lookups, and `/_ping` none of what a Headers object costs to build.
 */
export function parseHead(buf: Buffer, end: number): RequestHead {
  const lines = buf.toString("latin1", 0, end - 4).split("\r\n");
  const parts = lines[0]!.split(" ");
  if (parts.length !== 3) throw new HttpParseError("malformed request line");
  const [method, target, version] = parts as [string, string, string];
  if (!TOKEN.test(method)) throw new HttpParseError("malformed method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") throw new HttpParseError("unsupported HTTP version", 505);
  if (!target.startsWith("/") || /[\s\x00-\x1f\x7f]/.test(target)) throw new HttpParseError("malformed request target");
  if (lines.length - 1 > LIMITS.maxHeaderCount) throw new HttpParseError("too many headers", 431);
  const fields: [string, string][] = [];
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpParseError("malformed header line");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpParseError("malformed header name");
    const value = line.slice(colon + 1).trim();
    if (/[\x00\r\n]/.test(value)) throw new HttpParseError("malformed header value");
    fields.push([name, value]);
    const key = name.toLowerCase();
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { method, target, version, fields, headers };
}

export type BodyFraming = { kind: "none" } | { kind: "length"; length: number } | { kind: "chunked" };

export function bodyFraming(head: RequestHead): BodyFraming {
  const te = head.headers.get("transfer-encoding");
  const cl = head.headers.get("content-length");
  if (te) {
    if (cl) throw new HttpParseError("both Transfer-Encoding and Content-Length");
    if (te.toLowerCase() !== "chunked") throw new HttpParseError(`unsupported transfer encoding ${te}`, 501);
    return { kind: "chunked" };
  }
  if (cl != null) {
    if (!/^\d{1,15}$/.test(cl)) throw new HttpParseError("malformed Content-Length");
    const length = Number(cl);
    return length === 0 ? { kind: "none" } : { kind: "length", length };
  }
  return { kind: "none" };
}

/**
 * Incremental decoder for a chunked body. `push` consumes what it can and returns the decoded payload
 * pieces plus how many input bytes were used; bytes past the final chunk belong to the next request.
 */
export class ChunkedDecoder {
  private state: "size" | "data" | "data-crlf" | "trailer" | "done" = "size";
  private remaining = 0;
  private line = "";

  get done(): boolean {
    return this.state === "done";
  }

  push(input: Buffer): { pieces: Buffer[]; used: number } {
    const pieces: Buffer[] = [];
    let i = 0;
    while (i < input.length && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.remaining, input.length - i);
        pieces.push(input.subarray(i, i + n));
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.state = "data-crlf";
        continue;
      }
      const nl = input.indexOf(0x0a, i);
      const end = nl === -1 ? input.length : nl + 1;
      this.line += input.subarray(i, end).toString("latin1");
      i = end;
      if (this.line.length > LIMITS.maxChunkSizeLine) throw new HttpParseError("chunk header too long");
      if (nl === -1) break;
      const line = this.line.replace(/\r?\n$/, "");
      this.line = "";
      if (this.state === "data-crlf") {
        if (line !== "") throw new HttpParseError("malformed chunk terminator");
        this.state = "size";
      } else if (this.state === "size") {
        const sizeText = line.split(";")[0]!.trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new HttpParseError("malformed chunk size");
        this.remaining = parseInt(sizeText, 16);
        this.state = this.remaining === 0 ? "trailer" : "data";
      } else if (this.state === "trailer") {
        if (line === "") this.state = "done";
      }
    }
    return { pieces, used: i };
  }
}
