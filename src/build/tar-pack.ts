/**
 * A tar stream from a list of entries whose file contents are opened only when the consumer gets to them, so a
 * layer or a build context of any size passes through with one chunk in memory. Headers are encoded by
 * src/layers/tar-writer.ts (ustar, PAX when needed).
 */
import { read } from "node:fs";
import { SystemError } from "../errors";
import type { TarEntryType } from "../layers/tar-reader";
import { encodeTarHeader, TAR_END, tarPadding } from "../layers/tar-writer";

export interface PackEntry {
  /** Relative path, `/`-separated, no leading `/`; a directory without its trailing `/`. */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Bytes of content (files only). */
  size?: number;
  /** The content, opened when the entry is written (files only); must yield exactly `size` bytes. */
  body?: () => AsyncIterable<Uint8Array>;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function headerOf(entry: PackEntry): Uint8Array {
  const mtimeNs = BigInt(Math.floor(entry.mtime)) * 1_000_000_000n;
  return encodeTarHeader({
    name: entry.name,
    type: entry.type,
    mode: entry.mode,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.type === "file" ? (entry.size ?? 0) : 0,
    mtimeNs,
    atimeNs: mtimeNs,
    linkname: entry.linkname ?? "",
    devmajor: entry.devmajor ?? 0,
    devminor: entry.devminor ?? 0,
    xattrs: new Map(),
  });
}

/** The tar stream of `entries`, ending with the two zero blocks. */
export async function* packTar(entries: AsyncIterable<PackEntry> | Iterable<PackEntry>): AsyncGenerator<Uint8Array> {
  for await (const entry of entries) {
    yield headerOf(entry);
    if (entry.type !== "file") continue;
    const size = entry.size ?? 0;
    let written = 0;
    if (entry.body) {
      for await (const chunk of entry.body()) {
        written += chunk.length;
        if (written > size) throw new SystemError(`${entry.name}: file grew while it was being archived`);
        yield chunk;
      }
    }
    if (written !== size) throw new SystemError(`${entry.name}: file shrank while it was being archived (${written} of ${size} bytes)`);
    const pad = tarPadding(size);
    if (pad.length > 0) yield pad;
  }
  yield TAR_END;
}

const CHUNK = 256 * 1024;

/** `size` bytes of an open file from offset 0, in chunks, without blocking the event loop; closes it when done. */
export async function* readFd(fd: number, size: number, closeFd: (fd: number) => void): AsyncGenerator<Uint8Array> {
  try {
    let offset = 0;
    while (offset < size) {
      const buffer = new Uint8Array(Math.min(CHUNK, size - offset));
      const n = await new Promise<number>((resolve, reject) => read(fd, buffer, 0, buffer.length, offset, (err, bytes) => (err ? reject(err) : resolve(bytes))));
      if (n === 0) break;
      offset += n;
      yield n === buffer.length ? buffer : buffer.subarray(0, n);
    }
  } finally {
    closeFd(fd);
  }
}
