/**
 * Our terminal ↔ a hijacked attach/exec stream: output demultiplexed to stdout/stderr (raw with a TTY), stdin
 * forwarded and half-closed at EOF, the terminal in raw mode and its size sent while a TTY is attached.
 */
import type { Client } from "../../client/client";
import { demultiplex, writerFor } from "./demux";
import type { HijackedStream } from "./hijack";

export interface StreamOptions {
  tty: boolean;
  stdin: boolean;
}

/** The terminal's size as docker sends it: [height, width], [0, 0] when stdout is not a terminal. */
export function consoleSize(): [number, number] {
  return process.stdout.isTTY ? [process.stdout.rows ?? 0, process.stdout.columns ?? 0] : [0, 0];
}

async function pumpStdin(stream: HijackedStream): Promise<void> {
  for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) await stream.write(new Uint8Array(chunk));
  stream.closeWrite();
}

/** Keep the container's pty the size of our terminal (now and on SIGWINCH) until `done`. */
export function followTerminalSize(client: Client, path: string, done: Promise<unknown>): void {
  if (!process.stdout.isTTY) return;
  const send = () => {
    const [h, w] = consoleSize();
    if (h > 0 && w > 0) void client.request("POST", path, { query: { h, w } }).catch(() => {});
  };
  send();
  process.on("SIGWINCH", send);
  void done.finally(() => process.off("SIGWINCH", send));
}

/** Serve the stream until the daemon closes it. */
export async function serveStream(stream: HijackedStream, o: StreamOptions): Promise<void> {
  const raw = o.tty && o.stdin && process.stdin.isTTY === true;
  if (raw) process.stdin.setRawMode(true);
  try {
    if (o.stdin) void pumpStdin(stream).catch(() => stream.closeWrite());
    else stream.closeWrite();
    const out = writerFor(process.stdout);
    const output = o.tty ? (async () => {
      for await (const chunk of stream.output) await out(chunk);
    })() : demultiplex(stream.output, out, writerFor(process.stderr));
    await output;
  } finally {
    if (raw) process.stdin.setRawMode(false);
    if (o.stdin) process.stdin.pause();
  }
}
