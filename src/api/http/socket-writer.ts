import type { Socket } from "bun";

/**
 * Ordered writes to a Bun socket with backpressure: `write` resolves once the kernel has taken every byte,
 * so a producer that awaits it never buffers more than one chunk per connection.
 */
export class SocketWriter {
  private queue: Uint8Array[] = [];
  private waiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly socket: Socket<unknown>) {}

  write(data: Uint8Array | string): Promise<void> {
    if (this.closed) return Promise.resolve();
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    if (bytes.length === 0) return Promise.resolve();
    if (this.queue.length === 0) {
      const n = this.socket.write(bytes);
      if (n === bytes.length) return Promise.resolve();
      this.queue.push(bytes.subarray(Math.max(n, 0)));
    } else {
      this.queue.push(bytes);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Called from the socket's drain handler. */
  drain(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.socket.write(head);
      if (n < head.length) {
        this.queue[0] = head.subarray(Math.max(n, 0));
        return;
      }
      this.queue.shift();
    }
    this.release();
  }

  /** Resolve once everything queued so far is written. */
  flushed(): Promise<void> {
    if (this.queue.length === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The peer is gone: drop what is queued and release every waiter. */
  abandon(): void {
    this.closed = true;
    this.queue = [];
    this.release();
  }

  private release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
