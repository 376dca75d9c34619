/**
 * One SOCK_SEQPACKET connection to a keeper, driven by the event loop: requests are sent without blocking
 * and answered by tag; the keeper rings this connection's doorbell (a pipe it hands over with the first
 * hello) after every message, and only then is the socket read. So nothing here waits for the keeper
 * except the hello at connect time (fast: the keeper answers from its poll loop).
 */
import {
  AF_UNIX, MSG_DONTWAIT, O, POLLIN, SOCK_CLOEXEC, SOCK_SEQPACKET, SysError, close, connectUnix, fcntl, peerCredentials,
  poll, recvWithFds, sendWithFds, socket,
} from "../../libc/libc";
import { readableFromFd } from "../stdio";
import { decodeMessage, encodeRequest, KeeperConnectionError, parseHello, type Incoming, type KeeperHello, type Reply } from "./protocol";

const F_GETFL = 3;
const F_SETFL = 4;
const HELLO_TIMEOUT_MS = 5000;
const SEND_RETRY_MS = 2;
const SEND_GIVE_UP_MS = 10_000;
/** Matches the keeper's request buffer (REQ_MAX) and covers its largest reply (list). */
const MESSAGE_MAX = 256 * 1024;

interface Pending {
  op: string;
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export type ExitEvent = Extract<Incoming, { kind: "exit" }>;

export class KeeperConnection {
  private readonly pending = new Map<number, Pending>();
  private readonly buffer = new Uint8Array(MESSAGE_MAX);
  private nextTag = 2;
  private open = true;
  private bellReader: { cancel(): Promise<void> } | undefined;
  /** Called for every exit event (the connection must have subscribed). */
  onExit: ((event: ExitEvent) => void) | undefined;
  /** Called once when the connection is lost (not after close()). */
  onLost: ((error: Error) => void) | undefined;

  private constructor(
    private readonly fd: number,
    readonly hello: KeeperHello,
    bell: number,
  ) {
    this.listen(bell);
  }

  /**
   * Connect to the keeper listening at `socketPath`. The peer must be root and, when `expectedPid` is
   * given (from keeper.pid), that very process. Throws SysError ENOENT/ECONNREFUSED when none listens.
   */
  static open(socketPath: string, expectedPid: number | null): KeeperConnection {
    const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    try {
      connectUnix(fd, socketPath);
      const peer = peerCredentials(fd);
      if (peer.uid !== 0) throw new KeeperConnectionError(`keeper at ${socketPath} runs as uid ${peer.uid}, not root`);
      if (expectedPid !== null && peer.pid !== expectedPid) throw new KeeperConnectionError(`keeper at ${socketPath} is pid ${peer.pid}, keeper.pid says ${expectedPid}`);
      sendWithFds(fd, encodeRequest(1, ["hello"]));
      const ready = new Int16Array(1);
      if (poll(Int32Array.of(fd), POLLIN, ready, HELLO_TIMEOUT_MS) === 0) throw new KeeperConnectionError(`keeper at ${socketPath} did not answer hello`);
      const buffer = new Uint8Array(MESSAGE_MAX);
      const message = recvWithFds(fd, buffer);
      if (!message || message.length === 0) throw new KeeperConnectionError(`keeper at ${socketPath} closed the connection`);
      const incoming = decodeMessage(buffer.subarray(0, message.length), message.fds, () => "hello");
      if (incoming.kind !== "reply" || message.fds.length !== 1) {
        for (const f of message.fds) close(f);
        throw incoming.kind === "error" ? incoming.error : new KeeperConnectionError("unexpected hello reply");
      }
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O.NONBLOCK);
      return new KeeperConnection(fd, parseHello(incoming.reply.text), message.fds[0]!);
    } catch (e) {
      close(fd);
      throw e;
    }
  }

  /** False once closed, or lost (the keeper exited or dropped us). */
  get isOpen(): boolean {
    return this.open;
  }

  /** Send one request; resolves with the "ok" reply, rejects with KeeperError/LaunchError for "err". */
  async request(fields: string[], blob?: Uint8Array): Promise<Reply> {
    if (!this.open) throw new KeeperConnectionError("keeper connection is closed");
    const tag = this.nextTag++;
    const message = encodeRequest(tag, fields, blob);
    const replied = new Promise<Reply>((resolve, reject) => this.pending.set(tag, { op: fields[0] ?? "", resolve, reject }));
    try {
      await this.send(message);
    } catch (e) {
      this.pending.delete(tag);
      throw e;
    }
    return replied;
  }

  /** Stop listening and close the socket (the keeper and its containers carry on). */
  close(): void {
    if (!this.open) return;
    this.open = false;
    void this.bellReader?.cancel().catch(() => {});
    close(this.fd);
    this.failPending(new KeeperConnectionError("keeper connection closed"));
  }

  private async send(message: Uint8Array): Promise<void> {
    const deadline = Date.now() + SEND_GIVE_UP_MS;
    for (;;) {
      try {
        sendWithFds(this.fd, message, [], MSG_DONTWAIT);
        return;
      } catch (e) {
        // EAGAIN: the keeper's queue is full for a moment (it is busy); anything else is final.
        if (!(e instanceof SysError) || e.code !== "EAGAIN" || Date.now() > deadline) throw e;
      }
      await Bun.sleep(SEND_RETRY_MS);
    }
  }

  private listen(bell: number): void {
    const reader = readableFromFd(bell).getReader();
    this.bellReader = reader;
    void (async () => {
      try {
        while (!(await reader.read()).done) this.drain();
      } catch {
        // the bell failed: treated as the keeper going away
      }
      if (this.open) this.lost(new KeeperConnectionError("keeper connection lost"));
    })();
  }

  private drain(): void {
    while (this.open) {
      let message;
      try {
        message = recvWithFds(this.fd, this.buffer, MSG_DONTWAIT);
      } catch (e) {
        this.lost(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (!message) return;
      if (message.length === 0) {
        this.lost(new KeeperConnectionError("keeper closed the connection"));
        return;
      }
      this.dispatch(decodeMessage(this.buffer.subarray(0, message.length), message.fds, (tag) => this.pending.get(tag)?.op ?? "?"));
    }
  }

  private dispatch(incoming: Incoming): void {
    if (incoming.kind === "exit") {
      this.onExit?.(incoming);
      return;
    }
    const pending = this.pending.get(incoming.tag);
    if (!pending) {
      if (incoming.kind === "reply") for (const fd of incoming.reply.fds) close(fd);
      return;
    }
    this.pending.delete(incoming.tag);
    if (incoming.kind === "reply") pending.resolve(incoming.reply);
    else pending.reject(incoming.error);
  }

  private lost(error: Error): void {
    if (!this.open) return;
    this.open = false;
    void this.bellReader?.cancel().catch(() => {});
    close(this.fd);
    this.failPending(error);
    this.onLost?.(error);
  }

  private failPending(error: Error): void {
    for (const [tag, p] of this.pending) {
      this.pending.delete(tag);
      p.reject(error);
    }
  }
}
