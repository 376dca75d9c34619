/**
 * A minimal keep-alive HTTP/1.1 client over a unix socket, for load generation: one request in flight per connection,
 * responses framed by Content-Length. Anything the engines answer without Content-Length is reported as an error.
 */
import type { Socket } from "bun";

const HEADER_END = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;

interface Pending {
  resolve(status: number): void;
  reject(error: Error): void;
}

export class KeepAliveConnection {
  private received: Buffer = Buffer.alloc(0);
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
    const data = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    // The chunk is only valid during this callback: keep a copy while the response is incomplete.
    const keep = () => void (this.received = data === chunk ? Buffer.from(chunk) : data);
    const headerEnd = data.indexOf(HEADER_END);
    if (headerEnd < 0) return keep();
    const head = data.toString("latin1", 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head);
    if (!length) return this.fail(new Error(`response without Content-Length: ${JSON.stringify(head.slice(0, 200))}`));
    const total = headerEnd + HEADER_END.length + Number(length[1]);
    if (data.length < total) return keep();
    if (data.length > total) return this.fail(new Error("received more than one response for one request"));
    this.received = Buffer.alloc(0);
    const pending = this.pending;
    this.pending = null;
    pending?.resolve(Number(head.slice(9, 12)));
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
