/**
 * Waiting for what settles asynchronously (a container's output, a port that starts answering, a process that
 * ends, a veth the kernel retires): poll for the condition itself instead of sleeping a fixed time. Deadlines are
 * generous because CI machines may be slower or more loaded than a developer's; a wait ends as soon as its
 * condition holds, so a long deadline costs nothing when things work.
 */

/** How long anything that normally settles within a second may take on a loaded machine. */
export const SETTLE_TIMEOUT_MS = 30_000;

/** Poll until `check` holds; fail naming `what` after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
  if (!(await settle(check, timeoutMs))) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Poll until `check` holds or `timeoutMs` passes, without failing; says whether it held. For a wait followed by
 * the assertion itself, whose failure then shows what was there instead.
 */
export async function settle(check: () => Promise<boolean> | boolean, timeoutMs = SETTLE_TIMEOUT_MS): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(50);
  }
}

const defaultReader = (stream: ReadableStream<Uint8Array>) => stream.getReader();

/** A child's output read as it arrives: wait for a pattern, then go on reading from there. */
export class StreamText {
  private readonly reader: ReturnType<typeof defaultReader>;
  private readonly decoder = new TextDecoder();
  /** Everything read so far. */
  text = "";

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = defaultReader(stream);
  }

  /**
   * Read until `pattern` matches the text so far; fails if the stream ends first or the time is up (after which
   * a read is still pending: this reader is done with).
   */
  async until(pattern: RegExp, timeoutMs = SETTLE_TIMEOUT_MS): Promise<string> {
    let timer: Timer | undefined;
    const timeUp = new Promise<"time-up">((resolve) => (timer = setTimeout(() => resolve("time-up"), timeoutMs)));
    try {
      while (!pattern.test(this.text)) {
        const chunk = await Promise.race([this.reader.read(), timeUp]);
        if (chunk === "time-up") throw new Error(`no ${pattern} within ${timeoutMs} ms; read so far: ${JSON.stringify(this.text)}`);
        if (chunk.done) throw new Error(`the stream ended before ${pattern}; read: ${JSON.stringify(this.text)}`);
        this.text += this.decoder.decode(chunk.value, { stream: true });
      }
      return this.text;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Read to the end of the stream; returns the whole text. */
  async rest(): Promise<string> {
    for (;;) {
      const { value, done } = await this.reader.read();
      if (done) return this.text;
      this.text += this.decoder.decode(value, { stream: true });
    }
  }
}
