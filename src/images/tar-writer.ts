import { InvalidParameterError, SystemError } from "../errors";

/** One regular file of an archive being written; the body must yield exactly `size` bytes. */
export interface TarFile {
  name: string;
  size: number;
  body: Uint8Array | AsyncIterable<Uint8Array>;
  mode?: number;
  /** Seconds since the epoch. */
  mtime?: number;
}

/** A directory entry (`name` without the trailing slash). */
export interface TarDirectory {
  name: string;
  directory: true;
  mode?: number;
  mtime?: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  const bytes = encoder.encode(value);
  if (bytes.length > length) throw new InvalidParameterError(`tar field too long: ${JSON.stringify(value)}`);
  block.set(bytes, offset);
}

/** Octal, zero padded, NUL terminated; sizes past the octal range use GNU base-256 like Go's archive/tar. */
function putNumber(block: Uint8Array, offset: number, length: number, value: number): void {
  const octal = value.toString(8);
  if (octal.length < length) {
    putString(block, offset, length, `${octal.padStart(length - 1, "0")}\0`);
    return;
  }
  block[offset] = 0x80;
  let rest = BigInt(value);
  for (let i = offset + length - 1; i > offset; i--) {
    block[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

/** ustar splits names longer than 100 bytes into prefix (155) + name (100) at a slash. */
function splitName(name: string): { prefix: string; name: string } {
  if (encoder.encode(name).length <= 100) return { prefix: "", name };
  for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100) return { prefix, name: rest };
  }
  throw new InvalidParameterError(`tar entry name too long: ${name}`);
}

/** A ustar header block. */
function tarHeader(entry: TarFile | TarDirectory): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const isDir = "directory" in entry;
  const split = splitName(isDir ? `${entry.name}/` : entry.name);
  putString(block, 0, 100, split.name);
  putNumber(block, 100, 8, entry.mode ?? (isDir ? 0o755 : 0o644));
  putNumber(block, 108, 8, 0);
  putNumber(block, 116, 8, 0);
  putNumber(block, 124, 12, isDir ? 0 : entry.size);
  putNumber(block, 136, 12, entry.mtime ?? 0);
  block[156] = isDir ? 0x35 : 0x30;
  putString(block, 257, 6, "ustar\0");
  putString(block, 263, 2, "00");
  putString(block, 345, 155, split.prefix);
  // The checksum is computed with its own field read as spaces.
  block.fill(0x20, 148, 156);
  const sum = block.reduce((n, b) => n + b, 0);
  putString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

/**
 * Streams a tar archive of `entries`, reading each body only when the consumer asks for more, so a
 * multi-gigabyte archive passes through with one chunk in memory. A body that yields more or fewer
 * bytes than its declared size fails the stream (the archive would be corrupt otherwise).
 */
export async function* writeTar(entries: AsyncIterable<TarFile | TarDirectory> | Iterable<TarFile | TarDirectory>): AsyncGenerator<Uint8Array> {
  for await (const entry of entries) {
    yield tarHeader(entry);
    if ("directory" in entry) continue;
    let written = 0;
    const body = entry.body instanceof Uint8Array ? [entry.body] : entry.body;
    for await (const chunk of body) {
      written += chunk.length;
      if (written > entry.size) throw new SystemError(`${entry.name}: content is larger than the ${entry.size} bytes announced`);
      yield chunk;
    }
    if (written !== entry.size) throw new SystemError(`${entry.name}: content ended after ${written} of ${entry.size} bytes`);
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad) yield new Uint8Array(pad);
  }
  yield new Uint8Array(BLOCK * 2);
}
