/**
 * Reading docker's multiplexed stream (8-byte header: stream, 0, 0, 0, big-endian payload size; see
 * src/containers/io/stdcopy.ts) as it arrives in arbitrary chunks, pulled by the consumer.
 */
export interface Frame {
  stream: "stdout" | "stderr";
  payload: Uint8Array;
}

const HEADER = 8;
const STDERR = 2;
const SYSTEMERR = 3;

export async function* decodeFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    buffer = buffer.byteLength === 0 ? chunk : concat(buffer, chunk);
    let offset = 0;
    while (buffer.byteLength - offset >= HEADER) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset + 4, 4).getUint32(0, false);
      if (buffer.byteLength - offset < HEADER + size) break;
      const kind = buffer[offset];
      yield { stream: kind === STDERR || kind === SYSTEMERR ? "stderr" : "stdout", payload: buffer.subarray(offset + HEADER, offset + HEADER + size) };
      offset += HEADER + size;
    }
    buffer = buffer.subarray(offset);
  }
}

/** The raw stream of a TTY container or exec: all of it is stdout. */
export async function* rawFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  for await (const payload of chunks) yield { stream: "stdout", payload };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
