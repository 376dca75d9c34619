/** Raw byte exchanges with a daemon's unix socket, for testing the HTTP front end itself. */
import type { Socket } from "bun";
import { SETTLE_TIMEOUT_MS } from "./wait";

export interface RawConnection {
  send(data: string | Uint8Array): void;
  halfClose(): void;
  /** Everything received so far. */
  received(): string;
  /** Wait until the received text matches, or time out. */
  waitFor(pred: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  closed: Promise<void>;
  close(): void;
}

export async function rawConnect(socketPath: string): Promise<RawConnection> {
  let buf = "";
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  const socket: Socket<unknown> = await Bun.connect({
    unix: socketPath,
    allowHalfOpen: true,
    socket: {
      data: (_s, d) => {
        buf += Buffer.from(d).toString("latin1");
      },
      close: () => resolveClosed(),
      end: () => resolveClosed(),
    },
  } as Parameters<typeof Bun.connect>[0]);
  return {
    send: (d) => void socket.write(d),
    halfClose: () => socket.shutdown(),
    received: () => buf,
    async waitFor(pred, timeoutMs = SETTLE_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(buf)) {
        if (Date.now() > deadline) throw new Error(`timed out; received so far: ${JSON.stringify(buf.slice(0, 2000))}`);
        await Bun.sleep(10);
      }
      return buf;
    },
    closed,
    close: () => socket.end(),
  };
}
