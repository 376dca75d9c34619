import { decodeFrames } from "../../containers/io/stdcopy";

/** Split docker's multiplexed stream back into stdout and stderr. */
export async function demultiplex(stream: ReadableStream<Uint8Array>, stdout: (b: Uint8Array) => Promise<void>, stderr: (b: Uint8Array) => Promise<void>): Promise<void> {
  for await (const { stream: kind, payload } of decodeFrames(stream)) await (kind === "stderr" ? stderr : stdout)(payload);
}

/** Write to a process stream, resolving once it has been taken (backpressure for large outputs). */
export function writerFor(out: NodeJS.WriteStream): (b: Uint8Array) => Promise<void> {
  return (b) => new Promise<void>((resolve) => (out.write(b) ? resolve() : out.once("drain", resolve)));
}
