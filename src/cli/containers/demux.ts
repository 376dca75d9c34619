/** Split docker's multiplexed stream (8-byte header: stream, 0, 0, 0, big-endian size) back into stdout and stderr. */
export async function demultiplex(stream: ReadableStream<Uint8Array>, stdout: (b: Uint8Array) => Promise<void>, stderr: (b: Uint8Array) => Promise<void>): Promise<void> {
  let buf = Buffer.alloc(0);
  for await (const chunk of stream) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const payload = buf.subarray(8, 8 + size);
      const kind = buf[0];
      buf = buf.subarray(8 + size);
      if (kind === 2 || kind === 3) await stderr(payload);
      else await stdout(payload);
    }
  }
}

/** Write to a process stream, resolving once it has been taken (backpressure for large outputs). */
export function writerFor(out: NodeJS.WriteStream): (b: Uint8Array) => Promise<void> {
  return (b) => new Promise<void>((resolve) => (out.write(b) ? resolve() : out.once("drain", resolve)));
}
