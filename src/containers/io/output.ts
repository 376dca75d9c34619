/** A process's live output as the keeper hands it over (fresh pipes), delivered chunk by chunk to a sink. */
import type { AttachedOutput } from "../../../drivers/exec/keeper/client";
import { readableFromFd } from "../../../drivers/exec/stdio";
import { log } from "../../util/log";
import type { StreamName } from "../logs/json-file";

export type OutputSink = (stream: StreamName, data: Uint8Array) => Promise<void>;

/**
 * Read both pipes until they end (the process exited and its output was passed on, or the keeper dropped a
 * reader that fell behind), awaiting the sink for each chunk: with a "lossless" attach that backpressure
 * reaches the process. Takes ownership of the fds.
 */
export function relayOutput(output: AttachedOutput, sink: OutputSink): Promise<void> {
  const streams: [StreamName, number][] = [["stdout", output.stdout]];
  if (output.stderr !== null) streams.push(["stderr", output.stderr]);
  return Promise.all(streams.map(([stream, fd]) => pump(readableFromFd(fd), (data) => sink(stream, data)))).then(() => {});
}

async function pump(readable: ReadableStream<Uint8Array>, sink: (data: Uint8Array) => Promise<void>): Promise<void> {
  const reader = readable.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      await sink(value);
    }
  } catch (err) {
    log.debug("process output ended with an error", { error: String(err) });
  } finally {
    reader.releaseLock();
  }
}
