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
