/**
 * Container stdio fds as web streams. Measured on Bun 1.4.5: `Bun.file(fd).stream()` reads pipes and pty
 * masters through the event loop (no thread-pool thread parked per stream, unlike fs.createReadStream)
 * and delivers EOF; a pty master needs O_NONBLOCK (the launcher sets it on every fd it returns) and ends
 * with EIO instead of EOF. `new net.Socket({ fd })` never delivered EOF on a pipe. `Bun.file(fd).writer()`
 * writes with backpressure and surfaces EPIPE. Neither closes the fd: these helpers do.
 */
import { close, ioctl } from "../libc/libc";

const TIOCSWINSZ = 0x5414;

function isEio(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === "EIO";
}

/** Reads `fd` until EOF (or EIO from a pty master whose slave side is gone), then closes it. */
export function readableFromFd(fd: number): ReadableStream<Uint8Array> {
  const reader = Bun.file(fd).stream().getReader();
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    close(fd);
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (done) {
            release();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (e) {
          release();
          if (isEio(e)) controller.close();
          else controller.error(e);
        }
      },
      async cancel(reason) {
        await reader.cancel(reason).catch(() => {});
        release();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Writes to `fd` with backpressure; closing the stream closes the fd (the reader then sees EOF). */
export function writableToFd(fd: number): WritableStream<Uint8Array> {
  const sink = Bun.file(fd).writer();
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    close(fd);
  };
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      try {
        await sink.write(chunk);
        await sink.flush();
      } catch (e) {
        release();
        throw e;
      }
    },
    async close() {
      try {
        await sink.end();
      } finally {
        release();
      }
    },
    abort() {
      release();
    },
  });
}

/** Set the window size of a pty (docker's resize). */
export function resizePty(masterFd: number, rows: number, cols: number): void {
  ioctl(masterFd, TIOCSWINSZ, new Uint8Array(new Uint16Array([rows, cols, 0, 0]).buffer));
}
