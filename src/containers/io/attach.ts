/**
 * Clients attached to a container (docker attach, run, start -a): each gets the output of the container's
 * current — or next — run, framed unless the container has a TTY, and may feed its stdin. A run's end ends
 * every attachment, once all of its output has been written to them.
 */
import type { HijackedConnection } from "../../api/http/hijack";
import type { StreamName } from "../logs/json-file";
import { DetachScanner } from "./detach-keys";
import { frame } from "./stdcopy";
import { StdinPipe } from "./stdin";

export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export class Attachment {
  private ended = false;
  private resolveDone!: () => void;
  /** Settles when the attachment is over (run ended, detached, or the client went away). */
  readonly done = new Promise<void>((r) => (this.resolveDone = r));

  constructor(
    readonly conn: HijackedConnection,
    readonly streams: AttachStreams,
    private readonly tty: boolean,
  ) {
    void conn.closed.then(() => this.finish());
  }

  async write(stream: StreamName, data: Uint8Array): Promise<void> {
    if (this.ended || !this.streams[stream]) return;
    await this.conn.write(this.tty ? data : frame(stream, data));
  }

  /** End from our side: everything written so far is flushed, then the connection closes. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.conn.end().catch(() => {});
    this.resolveDone();
  }

  private finish(): void {
    this.ended = true;
    this.resolveDone();
  }
}

/** Copy a client's input into `stdin` until it ends or types the detach keys; true when it detached. */
export async function pumpClientInput(input: ReadableStream<Uint8Array>, stdin: StdinPipe, detachKeys: Uint8Array): Promise<boolean> {
  const scanner = new DetachScanner(detachKeys);
  const reader = input.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      const { forward, detach } = scanner.push(value);
      if (forward.byteLength > 0) await stdin.write(forward);
      if (detach) return true;
    }
  } catch {
    return false;
  } finally {
    reader.releaseLock();
  }
}

/** One per container, across its runs. */
export class AttachHub {
  private readonly attachments = new Set<Attachment>();
  private stdinPipe: StdinPipe;

  constructor() {
    this.stdinPipe = new StdinPipe();
  }

  /** The stdin of the current run, or of the next one before it starts. */
  get stdin(): StdinPipe {
    return this.stdinPipe;
  }

  add(a: Attachment): void {
    this.attachments.add(a);
    void a.done.then(() => this.attachments.delete(a));
  }

  get size(): number {
    return this.attachments.size;
  }

  async broadcast(stream: StreamName, data: Uint8Array): Promise<void> {
    if (this.attachments.size === 0) return;
    await Promise.all([...this.attachments].map((a) => a.write(stream, data).catch(() => {})));
  }

  /** The run is over: end every attachment and give the next run a fresh stdin. */
  async endRun(): Promise<void> {
    this.stdinPipe.release();
    this.stdinPipe = new StdinPipe();
    const current = [...this.attachments];
    this.attachments.clear();
    await Promise.all(current.map((a) => a.end()));
  }
}
