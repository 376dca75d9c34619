/**
 * A minimal keep-alive HTTP/1.1 client over a unix socket, for load generation: one request in flight per connection,
 * responses framed by Content-Length or chunked transfer encoding (Docker and Bunker both stream larger bodies
 * chunked). The body is read to its end and discarded.
 */
import type { Socket } from "bun";
import { ChunkedDecoder } from "../src/api/http/parser.ts";

const HEADER_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;

interface Pending {
  resolve(status: number): void;
  reject(error: Error): void;
}

/** The body of the response being read: bytes still due, or the chunked decoder that finds its end. */
type BodyState = { status: number; remaining: number } | { status: number; chunked: ChunkedDecoder };

export class KeepAliveConnection {
  /** Bytes of a response head not complete yet. */
  private head: Buffer = Buffer.alloc(0);
  private body: BodyState | null = null;
  private pending: Pending | null = null;
  private closedReason: Error | null = null;
  private socket!: Socket<undefined>;

  static async open(socketPath: string): Promise<KeepAliveConnection> {
    const connection = new KeepAliveConnection();
    connection.socket = await Bun.connect({
      unix: socketPath,
      socket: {
        data: (_socket, chunk) => connection.onData(chunk),
        close: () => connection.fail(new Error("connection closed by the server")),
        error: (_socket, error) => connection.fail(error),
      },
    });
    return connection;
  }

  /** Send one request and wait for its whole response; resolves with the status code. */
  request(raw: Uint8Array): Promise<number> {
    if (this.closedReason) return Promise.reject(this.closedReason);
    if (this.pending) return Promise.reject(new Error("a request is already in flight on this connection"));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(raw);
    });
  }

  close(): void {
    this.closedReason ??= new Error("connection closed");
    this.socket.end();
  }

  private onData(chunk: Buffer): void {
    try {
      let rest = this.body ? chunk : this.readHead(chunk);
      if (rest && this.body) rest = this.readBody(this.body, rest);
      if (rest && rest.length > 0) throw new Error("received more than one response for one request");
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Collect the head; once complete, set up the body state and return the bytes after the head. */
  private readHead(chunk: Buffer): Buffer | null {
    // The chunk is only valid during the data callback: keep a copy while the head is incomplete.
    const data = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
    const headerEnd = data.indexOf(HEADER_END);
    if (headerEnd < 0) {
      this.head = data === chunk ? Buffer.from(chunk) : data;
      return null;
    }
    this.head = Buffer.alloc(0);
    const head = data.toString("latin1", 0, headerEnd);
    const status = Number(head.slice(9, 12));
    const length = CONTENT_LENGTH.exec(head);
    if (length) this.body = { status, remaining: Number(length[1]) };
    else if (CHUNKED.test(head)) this.body = { status, chunked: new ChunkedDecoder() };
    else throw new Error(`response with neither Content-Length nor chunked encoding: ${JSON.stringify(head.slice(0, 200))}`);
    return data.subarray(headerEnd + HEADER_END.length);
  }

  /** Consume body bytes; when the body is complete, resolve the request and return what is left over. */
  private readBody(body: BodyState, data: Buffer): Buffer | null {
    let rest: Buffer;
    if ("chunked" in body) {
      const { used } = body.chunked.push(data);
      if (!body.chunked.done) return null;
      rest = data.subarray(used);
    } else {
      const used = Math.min(body.remaining, data.length);
      body.remaining -= used;
      if (body.remaining > 0) return null;
      rest = data.subarray(used);
    }
    this.body = null;
    const pending = this.pending;
    this.pending = null;
    pending?.resolve(body.status);
    return rest;
  }

  private fail(error: Error): void {
    this.closedReason ??= error;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }
}

export interface LoadResult {
  /** Requests per second of each round. */
  rates: number[];
  /** Latency of every request in the measured rounds, in milliseconds. */
  latencies: number[];
}

export interface LoadOptions {
  socket: string;
  /** e.g. "GET /_ping" */
  request: string;
  clients: number;
  warmupMs: number;
  rounds: number;
  roundMs: number;
}

/** Closed-loop load: each client sends its next request as soon as the previous answer arrives. */
export async function measureRequests(options: LoadOptions): Promise<LoadResult> {
  const raw = Buffer.from(`${options.request} HTTP/1.1\r\nHost: docker\r\nUser-Agent: bunker-bench\r\n\r\n`);
  const connections = await Promise.all(Array.from({ length: options.clients }, () => KeepAliveConnection.open(options.socket)));
  try {
    const runFor = async (ms: number, latencies: number[] | null): Promise<number> => {
      const deadline = performance.now() + ms;
      let requests = 0;
      const client = async (connection: KeepAliveConnection) => {
        while (performance.now() < deadline) {
          const started = performance.now();
          const status = await connection.request(raw);
          if (status !== 200) throw new Error(`${options.request}: HTTP ${status}`);
          latencies?.push(performance.now() - started);
          requests++;
        }
      };
      const started = performance.now();
      await Promise.all(connections.map(client));
      return requests / ((performance.now() - started) / 1000);
    };
    await runFor(options.warmupMs, null);
    const result: LoadResult = { rates: [], latencies: [] };
    for (let round = 0; round < options.rounds; round++) result.rates.push(await runFor(options.roundMs, result.latencies));
    return result;
  } finally {
    for (const connection of connections) connection.close();
  }
}
