/**
 * Clients attached to a container (docker attach, run, start -a): each gets the output of the container's
 * current — or next — run, framed unless the container has a TTY, and may feed its stdin. A run's end ends
 * every attachment, once all of its output has been written to them.
 *
 * The output comes from the keeper, which owns the container's pipes: the hub relays one attach of it to
 * every client (taken before the process runs for `docker run`, when the first client arrives otherwise).
 */
import type { AttachedOutput } from "../../../drivers/exec/keeper/client";
import type { HijackedConnection } from "../../api/http/hijack";
import { log } from "../../util/log";
import type { StreamName } from "../logs/json-file";
import { DetachScanner } from "./detach-keys";
import { relayOutput } from "./output";
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
  /** The output being relayed, settling when it ends; null while none is. */
  private relaying: Promise<void> | null = null;
  /** Settles once the output being relayed is subscribed to (or that failed). */
  private subscribed: Promise<void> = Promise.resolve();

  constructor() {
    this.stdinPipe = new StdinPipe();
  }

  /** Whether output is being relayed (or about to be). */
  get fed(): boolean {
    return this.relaying !== null;
  }

  /** Relay the output `attach` hands over to the attachments until it ends. */
  feed(attach: Promise<AttachedOutput>): void {
    this.subscribed = attach.then(
      () => undefined,
      () => undefined,
    );
    const relay = attach.then(
      (output) => relayOutput(output, (stream, data) => this.broadcast(stream, data)),
      (err: unknown) => log.debug("attaching to a container's output failed", { error: String(err) }),
    );
    this.relaying = relay;
    void relay.finally(() => {
      if (this.relaying === relay) this.relaying = null;
    });
  }

  /** Settles once what the container writes from now on reaches the attachments (at once when nothing is relayed). */
  async outputSubscribed(): Promise<void> {
    await this.subscribed;
  }

  /** Settles once the relayed output has ended (at once when none is relayed). */
  async outputEnded(): Promise<void> {
    await this.relaying;
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
