import type { Frame } from "../containers/io/stdcopy";

export { decodeFrames, type Frame } from "../containers/io/stdcopy";

/** The raw stream of a TTY container or exec: all of it is stdout. */
export async function* rawFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  for await (const payload of chunks) yield { stream: "stdout", payload };
}
