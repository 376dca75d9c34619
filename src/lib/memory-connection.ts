/**
 * A HijackedConnection with no socket under it: what the container service writes (docker's framed stream)
 * is queued for `output()`, and `input` is the caller's stdin. Attach and exec serve it exactly as they serve
 * a docker client, so the library gets the same bytes without HTTP.
 */
import type { HijackedConnection } from "../api/http/hijack";

export type StdinSource = string | Uint8Array | ReadableStream<Uint8Array>;

function inputStream(stdin: StdinSource | undefined): ReadableStream<Uint8Array> {
  if (stdin instanceof ReadableStream) return stdin;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (stdin !== undefined) controller.enqueue(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
      controller.close();
    },
  });
}

export class MemoryConnection implements HijackedConnection {
  readonly input: ReadableStream<Uint8Array>;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private ended = false;
  private readonly queue: Uint8Array[] = [];
  private wake: (() => void) | null = null;

  constructor(stdin?: StdinSource) {
    this.input = inputStream(stdin);
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get isClosed(): boolean {
    return this.ended;
  }

  async write(data: Uint8Array | string): Promise<void> {
    if (this.ended) return;
    this.queue.push(typeof data === "string" ? new TextEncoder().encode(data) : data.slice());
    this.notify();
  }

  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.resolveClosed();
    this.notify();
  }

  /** Everything written, in order, until the connection ends. */
  async *output(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
