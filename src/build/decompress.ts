/**
 * Compressed streams as docker's builder meets them (a build context, a local archive given to ADD): the format
 * is told by its magic bytes, gzip and zstd are decompressed in process, bzip2 and xz by the host's `bzip2`/`xz`
 * (Bun has no decoder for them).
 */
import { existsSync } from "node:fs";
import { pipeline, Readable } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { InvalidParameterError } from "../errors";

export type Compression = "gzip" | "bzip2" | "xz" | "zstd" | "none";

const MAGIC: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
];

/** Bytes needed to tell compressions apart and recognise an uncompressed tar header. */
export const SNIFF_BYTES = 512;

export function detectCompression(head: Uint8Array): Compression {
  for (const [name, magic] of MAGIC) if (magic.every((b, i) => head[i] === b)) return name;
  return "none";
}

/** Whether `head` starts with a tar header: the ustar magic, or a pre-POSIX header whose checksum holds. */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < 512) return false;
  const magic = new TextDecoder().decode(head.subarray(257, 262));
  if (magic === "ustar") return true;
  const stored = parseInt(new TextDecoder().decode(head.subarray(148, 156)).replace(/[\0 ]/g, ""), 8);
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i]!;
  return sum === stored;
}

/** The first `n` bytes of a stream (fewer if it is shorter) and the whole stream again, those bytes included. */
export async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: AsyncIterable<Uint8Array> }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Uint8Array[] = [];
  let length = 0;
  let done = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    seen.push(next.value);
    length += next.value.length;
  }
  const joined = Buffer.concat(seen);
  async function* replay(): AsyncGenerator<Uint8Array> {
    if (joined.length > 0) yield joined;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { head: joined.subarray(0, n), stream: replay() };
}

/** The decompressed stream. */
export function decompress(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, compression: Compression): AsyncIterable<Uint8Array> {
  switch (compression) {
    case "none":
      return Symbol.asyncIterator in source ? source : Readable.from(source);
    case "gzip":
      return pipeline(Readable.from(source), createGunzip(), () => {});
    case "zstd":
      return pipeline(Readable.from(source), createZstdDecompress(), () => {});
    case "bzip2":
      return hostDecompressor("bzip2", source);
    case "xz":
      return hostDecompressor("xz", source);
  }
}

async function* hostDecompressor(tool: "bzip2" | "xz", source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const binary = [`/usr/bin/${tool}`, `/bin/${tool}`].find((p) => existsSync(p));
  if (!binary) throw new InvalidParameterError(`${tool}-compressed archives need ${tool} on the daemon's host; send an uncompressed or gzip archive instead`);
  const proc = Bun.spawn([binary, "-dc"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        proc.stdin.write(chunk);
        await proc.stdin.flush();
      }
    } finally {
      await proc.stdin.end();
    }
  })();
  // A failed feed surfaces through the decompressor's exit status below; keep it from being unhandled meanwhile.
  feeding.catch(() => {});
  try {
    for await (const chunk of proc.stdout) yield chunk;
    await feeding;
    const code = await proc.exited;
    if (code !== 0) throw new InvalidParameterError(`${tool} could not decompress the archive: ${(await new Response(proc.stderr).text()).trim()}`);
  } finally {
    if (proc.exitCode === null) proc.kill();
  }
}
