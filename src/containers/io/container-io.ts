/**
 * A container's stdio for one run: stdout/stderr (or the pty master) read and handed, chunk by chunk, to the
 * json-file log and to the attached clients; stdin (or the pty master) fed from the attachments.
 */
import type { ProcessStdio } from "../../../drivers/exec/launcher";
import { readableFromFd } from "../../../drivers/exec/stdio";
import { log } from "../../util/log";
import type { JsonFileLogger, StreamName } from "../logs/json-file";
import type { AttachHub } from "./attach";
import { duplicateFd } from "./stdin";

/** Copy a stream into `sink` chunk by chunk, awaiting each (the sink's backpressure reaches the container). */
async function pumpOutput(readable: ReadableStream<Uint8Array>, sink: (data: Uint8Array) => Promise<void>): Promise<void> {
  const reader = readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      await sink(value);
    }
  } catch (err) {
    log.debug("container output ended with an error", { error: String(err) });
  } finally {
    reader.releaseLock();
  }
}

export interface WiredIo {
  /** A dup of the pty master for resize (closed by the caller after the run), or null without a TTY. */
  ptyFd: number | null;
  /** Settles once all output has been read (EOF) and delivered. */
  outputDone: Promise<void>;
}

export function wireContainerIo(stdio: ProcessStdio, openStdin: boolean, hub: AttachHub, logger: JsonFileLogger | null): WiredIo {
  const sources: [StreamName, ReadableStream<Uint8Array>][] = [];
  let ptyFd: number | null = null;
  if (stdio.ptyMaster !== null) {
    // The master is read by one stream and written by another, each closing its own fd.
    ptyFd = duplicateFd(stdio.ptyMaster);
    if (openStdin) hub.stdin.bind(duplicateFd(stdio.ptyMaster), false);
    sources.push(["stdout", readableFromFd(stdio.ptyMaster)]);
  } else {
    if (stdio.stdin !== null) hub.stdin.bind(stdio.stdin, true);
    if (stdio.stdout !== null) sources.push(["stdout", readableFromFd(stdio.stdout)]);
    if (stdio.stderr !== null) sources.push(["stderr", readableFromFd(stdio.stderr)]);
  }
  const outputDone = Promise.all(
    sources.map(([stream, readable]) =>
      pumpOutput(readable, async (data) => {
        logger?.write(stream, data);
        await hub.broadcast(stream, data);
      }),
    ),
  ).then(() => {});
  return { ptyFd, outputDone };
}
