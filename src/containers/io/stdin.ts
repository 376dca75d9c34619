/**
 * A process's stdin fed from hijacked connections. Input that arrives before the process exists (docker run
 * and `start -ai` attach before they start) is queued and delivered once a sink is bound.
 */
import { fcntl } from "../../../drivers/libc/libc";
import { writableToFd } from "../../../drivers/exec/stdio";

const F_DUPFD_CLOEXEC = 1030;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

export class StdinPipe {
  private queue: Uint8Array[] = [];
  private ended = false;
  private writer: WritableStreamDefaultWriter<Uint8Array> | null = null;
  /** Writes are chained so that they reach the process in order. */
  private chain: Promise<void> = Promise.resolve();
  private closeSink = true;

  /**
   * Start delivering to `fd` (owned from now on). With `closeOnEnd` false (a pty master, which cannot be
   * half-closed) the end of input only stops delivery.
   */
  bind(fd: number, closeOnEnd: boolean): void {
    this.writer = writableToFd(fd).getWriter();
    // Bun's FileSink clears O_NONBLOCK on the open file description, which a pty master shares with the
    // reader of the container's output (that reader then fails with ESPIPE). Non-blocking, the sink still
    // waits for room (measured), so the flag goes back on.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    this.closeSink = closeOnEnd;
    const queued = this.queue;
    this.queue = [];
    for (const chunk of queued) this.enqueue(chunk);
    if (this.ended) this.finish();
  }

  /** Resolves once the chunk is written to the process (or queued before it exists). */
  write(chunk: Uint8Array): Promise<void> {
    if (this.ended) return Promise.resolve();
    if (!this.writer) {
      this.queue.push(chunk);
      return Promise.resolve();
    }
    return this.enqueue(chunk);
  }

  /** No more input: the process reads EOF once everything queued is written. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.writer) this.finish();
  }

  /** The process is gone: drop the sink (its fd is closed) and anything still queued for it. */
  release(): void {
    this.ended = true;
    this.queue = [];
    const writer = this.writer;
    this.writer = null;
    if (writer) this.chain = this.chain.then(() => writer.abort().catch(() => {}));
  }

  private enqueue(chunk: Uint8Array): Promise<void> {
    const writer = this.writer!;
    this.chain = this.chain.then(() => writer.write(chunk)).catch(() => {});
    return this.chain;
  }

  private finish(): void {
    const writer = this.writer!;
    const close = this.closeSink;
    this.writer = null;
    this.chain = this.chain.then(() => (close ? writer.close() : writer.abort())).catch(() => {});
  }
}

/** A second fd for the same open file: a pty master is read by one stream and written by another, each closing its own. */
export function duplicateFd(fd: number): number {
  return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}
