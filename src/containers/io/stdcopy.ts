import { concatBytes } from "../../../drivers/util/bytes";

/**
 * Docker's multiplexed stream (moby pkg/stdcopy): each frame is an 8-byte header `[stream, 0, 0, 0, size
 * uint32 big-endian]` followed by the payload. Used by attach, logs and exec when there is no TTY.
 */
export const StreamType = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 } as const;
export type StreamTypeName = keyof typeof StreamType;

export const MULTIPLEXED_CONTENT_TYPE = "application/vnd.docker.multiplexed-stream";
export const RAW_CONTENT_TYPE = "application/vnd.docker.raw-stream";

const MAX_FRAME = 0xffff_ffff;

export function frame(stream: StreamTypeName, payload: Uint8Array): Uint8Array {
  if (payload.byteLength > MAX_FRAME) throw new RangeError("frame payload too large");
  const out = new Uint8Array(8 + payload.byteLength);
  out[0] = StreamType[stream];
  new DataView(out.buffer).setUint32(4, payload.byteLength, false);
  out.set(payload, 8);
  return out;
}

/**
 * The content type announced for a stream: API 1.42 introduced the multiplexed one; before it, docker said
 * raw-stream even when the stream was framed.
 */
export function streamContentType(tty: boolean, apiVersion: string): string {
  if (tty) return RAW_CONTENT_TYPE;
  const [major = 1, minor = 0] = apiVersion.split(".").map(Number);
  return major > 1 || minor >= 42 ? MULTIPLEXED_CONTENT_TYPE : RAW_CONTENT_TYPE;
}

export interface Frame {
  stream: "stdout" | "stderr";
  payload: Uint8Array;
}

const HEADER = 8;

/** Split the multiplexed stream back into frames as it arrives in arbitrary chunks, pulled by the consumer. */
export async function* decodeFrames(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  let buffer: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks) {
    buffer = buffer.byteLength === 0 ? chunk : concatBytes([buffer, chunk]);
    let offset = 0;
    while (buffer.byteLength - offset >= HEADER) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset + 4, 4).getUint32(0, false);
      if (buffer.byteLength - offset < HEADER + size) break;
      const kind = buffer[offset];
      const stream = kind === StreamType.stderr || kind === StreamType.systemerr ? "stderr" : "stdout";
      yield { stream, payload: buffer.subarray(offset + HEADER, offset + HEADER + size) };
      offset += HEADER + size;
    }
    buffer = buffer.subarray(offset);
  }
}
