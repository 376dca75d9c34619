/**
 * A process's stdin fed from hijacked connections. Input that arrives before the process exists (docker run
 * and `start -ai` attach before they start) is queued and delivered once a sink is bound.
 *
 * The sink is a dup the keeper handed over: the stdin pipe's write end, or the pty master, whose open file
 * description the keeper shares and reads without blocking. So it is written here with plain non-blocking
 * write(2) calls: Bun's FileSink clears O_NONBLOCK on a pty, which would make the keeper's next read block.
 */
import { close, fcntl, O, SysError, writeFd } from "../../../drivers/libc/libc";

const F_GETFL = 3;
const F_SETFL = 4;
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

interface Sink {
  fd: number;
  open: boolean;
}

export class StdinPipe {
  private queue: Uint8Array[] = [];
  private ended = false;
  /** The process is gone: a sink bound now is closed at once. */
  private released = false;
  private sink: Sink | null = null;
  private onEnd: (() => void) | undefined;
  /** Writes are chained so that they reach the process in order. */
  private chain: Promise<void> = Promise.resolve();

  /**
   * Start delivering to `fd` (owned from now on). `onEnd` runs once the input has ended and everything
   * was written (the keeper is then told to close its end, so the process reads EOF); without it the end of
   * input only stops delivery (a pty, which cannot be half-closed).
   */
  bind(fd: number, onEnd?: () => void): void {
    if (this.released) {
      close(fd);
      return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O.NONBLOCK);
    this.sink = { fd, open: true };
    this.onEnd = onEnd;
    const queued = this.queue;
    this.queue = [];
    for (const chunk of queued) this.enqueue(chunk);
    if (this.ended) this.finish();
  }

  /** Resolves once the chunk is written to the process (or queued before it exists). */
  write(chunk: Uint8Array): Promise<void> {
    if (this.ended) return Promise.resolve();
    if (!this.sink) {
      this.queue.push(chunk);
      return Promise.resolve();
    }
    return this.enqueue(chunk);
  }

  /** No more input: the process reads EOF once everything queued is written. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.sink) this.finish();
  }

  /** The process is gone: drop the sink (its fd is closed) and anything still queued for it. */
  release(): void {
    this.ended = true;
    this.released = true;
    this.queue = [];
    const sink = this.sink;
    this.sink = null;
    if (sink) this.chain = this.chain.then(() => closeSink(sink));
  }

  private enqueue(chunk: Uint8Array): Promise<void> {
    const sink = this.sink!;
    this.chain = this.chain.then(() => writeAll(sink, chunk));
    return this.chain;
  }

  private finish(): void {
    const sink = this.sink!;
    const onEnd = this.onEnd;
    this.sink = null;
    this.chain = this.chain.then(() => {
      closeSink(sink);
      onEnd?.();
    });
  }
}

/** Write all of `chunk`, waiting while the pipe is full; a reader that is gone drops the sink. */
async function writeAll(sink: Sink, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  let wait = RETRY_FIRST_MS;
  while (sink.open && offset < chunk.byteLength) {
    try {
      offset += writeFd(sink.fd, chunk.subarray(offset));
      wait = RETRY_FIRST_MS;
    } catch (err) {
      if (!(err instanceof SysError) || err.code !== "EAGAIN") {
        closeSink(sink);
        return;
      }
      await Bun.sleep(wait);
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }
}

function closeSink(sink: Sink): void {
  if (!sink.open) return;
  sink.open = false;
  close(sink.fd);
}
