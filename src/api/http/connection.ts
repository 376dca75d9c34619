import type { Socket } from "bun";
import { STATUS_CODES } from "./status-text";
import { bodyFraming, ChunkedDecoder, findHeadEnd, HttpParseError, LIMITS, parseHead, type RequestHead } from "./parser";
import { SocketWriter } from "./socket-writer";
import type { ConnectionEnv, HijackedConnection } from "./hijack";

export type RequestHandler = (request: Request, env: ConnectionEnv) => Promise<Response>;

export interface ConnectionOptions {
  handler: RequestHandler;
  /** Paths whose request bodies may exceed LIMITS.maxBufferedBody because the handler streams them. */
  isStreamingUpload(method: string, path: string): boolean;
  /**
   * A complete pre-rendered response for requests that need no routing (`/_ping`, which clients send before
   * everything else), or null to go through the app. It must depend on nothing but its arguments: a connection
   * answers a repeat of the same request head with the same bytes.
   */
  fastResponse?(method: string, target: string): Uint8Array | null;
  onError(err: unknown): void;
}

const EMPTY = Buffer.alloc(0);
const PENDING = Symbol("pending");
/** A fast-answered head longer than this is not remembered (a poller's ping is a few dozen bytes). */
const MAX_REMEMBERED_HEAD = 1024;

/**
 * One HTTP/1.1 connection: parses request heads, streams request bodies (Content-Length or chunked)
 * into a ReadableStream with backpressure, writes responses (Content-Length when the body is known,
 * chunked when it streams), keeps the connection alive, and hands it over on hijack.
 */
export class HttpConnection {
  private buf: Buffer = EMPTY;
  private readonly writer: SocketWriter;
  private busy = false;
  private closed = false;
  /** A protocol error ended the exchange; the error reply is on its way and the socket is closing. */
  private failed = false;
  private peerEnded = false;
  private body: {
    controller: ReadableStreamDefaultController<Uint8Array>;
    remaining: number; // for Content-Length bodies
    chunked: ChunkedDecoder | null;
    received: number;
    limit: number;
    done: boolean;
  } | null = null;
  private hijacked: {
    controller: ReadableStreamDefaultController<Uint8Array> | null;
    inputEnded: boolean;
    resolveClosed: () => void;
  } | null = null;
  private responseReader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /**
   * The last head answered by `fastResponse`, and the answer: a client polling `/_ping` on a kept-alive connection
   * sends the same bytes every time, and the answer depends on those bytes alone, so they need not be parsed again.
   */
  private lastFast: { head: Buffer; response: Uint8Array } | null = null;

  constructor(
    private readonly socket: Socket<unknown>,
    private readonly options: ConnectionOptions,
  ) {
    this.writer = new SocketWriter(socket);
  }

  onData(data: Uint8Array): void {
    if (this.closed || this.failed) return;
    this.buf = this.buf.length === 0 ? Buffer.from(data) : Buffer.concat([this.buf, data]);
    this.pump();
  }

  onDrain(): void {
    this.writer.drain();
  }

  /** The client half-closed its side. */
  onEnd(): void {
    this.peerEnded = true;
    if (this.body && !this.body.done) {
      this.body.controller.error(new HttpParseError("request body truncated"));
      this.body = null;
    }
    if (this.hijacked) {
      this.endHijackInput();
      return;
    }
    if (!this.busy) this.socket.end();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.writer.abandon();
    if (this.body && !this.body.done) {
      try {
        this.body.controller.error(new Error("connection closed"));
      } catch {}
    }
    this.responseReader?.cancel().catch(() => {});
    if (this.hijacked) {
      this.endHijackInput();
      this.hijacked.resolveClosed();
    }
  }

  private pump(): void {
    try {
      if (this.body && !this.body.done) this.feedBody();
      if (this.hijacked) {
        if (!this.body || this.body.done) this.feedHijackInput();
        return;
      }
      if (!this.busy && this.buf.length > 0) this.startRequest();
    } catch (err) {
      this.failConnection(err);
    }
  }

  private startRequest(): void {
    const end = findHeadEnd(this.buf);
    if (end === -1) return;
    const received = this.buf;
    this.buf = end === received.length ? EMPTY : received.subarray(end);
    const last = this.lastFast;
    if (last && last.head.length === end && received.compare(last.head, 0, end, 0, end) === 0) {
      void this.writer.write(last.response);
      return this.pump();
    }
    const head = parseHead(received, end);
    const framing = bodyFraming(head);
    const fast = framing.kind === "none" ? this.options.fastResponse?.(head.method, head.target) : null;
    if (fast && head.headers.get("connection")?.toLowerCase() !== "close" && head.version === "HTTP/1.1") {
      if (end <= MAX_REMEMBERED_HEAD) this.lastFast = { head: Buffer.from(received.subarray(0, end)), response: fast };
      void this.writer.write(fast);
      return this.pump();
    }
    const url = new URL(head.target, "http://bunker");
    const limit = this.options.isStreamingUpload(head.method, url.pathname) ? Number.MAX_SAFE_INTEGER : LIMITS.maxBufferedBody;
    if (framing.kind === "length" && framing.length > limit) throw new HttpParseError("request body too large", 413);

    let bodyStream: ReadableStream<Uint8Array> | null = null;
    if (framing.kind !== "none") {
      bodyStream = new ReadableStream<Uint8Array>(
        {
          start: (controller) => {
            this.body = {
              controller,
              remaining: framing.kind === "length" ? framing.length : 0,
              chunked: framing.kind === "chunked" ? new ChunkedDecoder() : null,
              received: 0,
              limit,
              done: false,
            };
          },
          pull: () => {
            this.socket.resume();
            this.pump();
          },
          cancel: () => {
            if (this.body) this.body.done = true;
          },
        },
        { highWaterMark: 4 },
      );
    }
    this.busy = true;
    const init: RequestInit & { duplex: "half" } = { method: head.method, headers: head.fields, body: bodyStream, duplex: "half" };
    const request = new Request(url.toString(), init);
    if (this.body) this.feedBody();
    void this.dispatch(request, head);
  }

  private feedBody(): void {
    const body = this.body!;
    while (this.buf.length > 0 && !body.done) {
      if ((body.controller.desiredSize ?? 1) <= 0) {
        this.socket.pause();
        return;
      }
      let piece: Buffer[];
      if (body.chunked) {
        const { pieces, used } = body.chunked.push(this.buf);
        this.buf = this.buf.subarray(used);
        piece = pieces;
        if (body.chunked.done) body.done = true;
        if (used === 0) break;
      } else {
        const n = Math.min(body.remaining, this.buf.length);
        piece = [this.buf.subarray(0, n)];
        this.buf = this.buf.subarray(n);
        body.remaining -= n;
        if (body.remaining === 0) body.done = true;
      }
      for (const p of piece) {
        body.received += p.length;
        if (body.received > body.limit) throw new HttpParseError("request body too large", 413);
        // Copy: the socket's buffer is reused by later reads.
        if (p.length > 0) body.controller.enqueue(new Uint8Array(p));
      }
      if (body.done) body.controller.close();
    }
  }

  private async dispatch(request: Request, head: RequestHead): Promise<void> {
    const env: ConnectionEnv = { hijack: (contentType) => this.hijack(contentType, head) };
    let response: Response;
    try {
      response = await this.options.handler(request, env);
    } catch (err) {
      this.options.onError(err);
      response = Response.json({ message: "internal server error" }, { status: 500 });
    }
    if (this.hijacked || this.closed) return;
    const wantsClose =
      this.peerEnded ||
      head.headers.get("connection")?.toLowerCase() === "close" ||
      (head.version === "HTTP/1.0" && head.headers.get("connection")?.toLowerCase() !== "keep-alive") ||
      (this.body !== null && !this.body.done);
    try {
      await this.writeResponse(response, head, wantsClose);
    } catch (err) {
      this.options.onError(err);
      this.socket.end();
      return;
    }
    this.body = null;
    this.busy = false;
    if (wantsClose) {
      await this.writer.flushed();
      this.socket.end();
      return;
    }
    this.pump();
  }

  private async writeResponse(response: Response, head: RequestHead, close: boolean): Promise<void> {
    const status = response.status;
    const noBody = head.method === "HEAD" || status === 204 || status === 304 || status < 200;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}`];
    response.headers.forEach((value, name) => {
      if (name === "transfer-encoding" || name === "connection") return;
      if (name === "content-length" && !noBody) return;
      lines.push(`${name}: ${value}`);
    });
    if (close) lines.push("connection: close");
    if (noBody || !response.body) {
      if (!noBody) lines.push("content-length: 0");
      await response.body?.cancel();
      await this.writer.write(lines.join("\r\n") + "\r\n\r\n");
      return;
    }
    const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    this.responseReader = reader;
    try {
      const first = await reader.read();
      if (first.done) {
        lines.push("content-length: 0");
        await this.writer.write(lines.join("\r\n") + "\r\n\r\n");
        return;
      }
      const ready = await readReady(reader, first.value);
      if (!ready.next) {
        lines.push(`content-length: ${ready.chunks.reduce((n, c) => n + c.byteLength, 0)}`);
        await this.writer.write(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), ...ready.chunks]));
        return;
      }
      let next = ready.next;
      lines.push("transfer-encoding: chunked");
      await this.writer.write(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), ...ready.chunks.map(chunkOf)]));
      while (!this.closed) {
        const r = await next;
        if (r.done) break;
        if (r.value.byteLength > 0) await this.writer.write(chunkOf(r.value));
        next = reader.read();
      }
      if (!this.closed) await this.writer.write("0\r\n\r\n");
    } finally {
      this.responseReader = null;
      if (this.closed) reader.cancel().catch(() => {});
    }
  }

  private hijack(contentType: string, head: RequestHead): HijackedConnection {
    if (this.hijacked) throw new Error("connection already hijacked");
    const upgrade = head.headers.get("upgrade")?.toLowerCase() === "tcp";
    const statusHead = upgrade
      ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    this.hijacked = { controller: null, inputEnded: false, resolveClosed };
    const state = this.hijacked;
    const input = new ReadableStream<Uint8Array>({
      start: (controller) => {
        state.controller = controller;
      },
      pull: () => {
        this.socket.resume();
      },
      cancel: () => {
        state.inputEnded = true;
      },
    });
    void this.writer.write(statusHead);
    queueMicrotask(() => this.pump());
    if (this.peerEnded) queueMicrotask(() => this.endHijackInput());
    if (this.closed) resolveClosed();
    const self = this;
    return {
      input,
      write: (data) => this.writer.write(data),
      end: async () => {
        await this.writer.flushed();
        this.socket.end();
      },
      closed,
      get isClosed() {
        return self.closed;
      },
    };
  }

  private feedHijackInput(): void {
    const h = this.hijacked!;
    if (this.buf.length === 0 || !h.controller || h.inputEnded) return;
    h.controller.enqueue(new Uint8Array(this.buf));
    this.buf = EMPTY;
    if ((h.controller.desiredSize ?? 1) <= 0) this.socket.pause();
  }

  private endHijackInput(): void {
    const h = this.hijacked;
    if (!h || h.inputEnded) return;
    this.feedHijackInput();
    h.inputEnded = true;
    try {
      h.controller?.close();
    } catch {}
  }

  private failConnection(err: unknown): void {
    const status = err instanceof HttpParseError ? err.status : 400;
    const message = err instanceof HttpParseError ? err.message : "bad request";
    if (!(err instanceof HttpParseError)) this.options.onError(err);
    if (this.body && !this.body.done) {
      try {
        this.body.controller.error(err);
      } catch {}
    }
    this.body = null;
    if (!this.busy) {
      const payload = JSON.stringify({ message });
      void this.writer
        .write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\nconnection: close\r\n\r\n${payload}`)
        .then(() => this.socket.end());
    } else {
      this.socket.end();
    }
    this.buf = EMPTY;
    this.failed = true;
  }
}

/** Past this many bytes a body is streamed even if it is all there: a quick producer must not be buffered whole. */
const MAX_BUFFERED_RESPONSE = 1024 * 1024;

/**
 * The body chunks available before the current macrotask ends, after `first`: a body complete by then (and small
 * enough) gets a Content-Length — Bun hands a buffered body out in more than one chunk past 16 KiB. `next` is the
 * read still pending when the body streams on, null when it ended.
 */
async function readReady(reader: ReadableStreamDefaultReader<Uint8Array>, first: Uint8Array): Promise<{ chunks: Uint8Array[]; next: ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]> | null }> {
  const macrotaskEnd = new Promise<typeof PENDING>((r) => setImmediate(() => r(PENDING)));
  const chunks = [first];
  let size = first.byteLength;
  for (;;) {
    const next = reader.read();
    if (size > MAX_BUFFERED_RESPONSE) return { chunks, next };
    const raced = await Promise.race([next, macrotaskEnd]);
    if (raced === PENDING) return { chunks, next };
    if (raced.done) return { chunks, next: null };
    chunks.push(raced.value);
    size += raced.value.byteLength;
  }
}

/** An empty chunk is nothing on the wire: "0\r\n\r\n" would end the body (a handler flushes headers with one). */
function chunkOf(data: Uint8Array): Buffer {
  if (data.byteLength === 0) return EMPTY;
  return Buffer.concat([Buffer.from(data.byteLength.toString(16) + "\r\n"), data, Buffer.from("\r\n")]);
}
