/**
 * File operations relative to a directory held open, for trees someone else may be changing while we read or write
 * them (a running container's root filesystem, its RW layer, a shared volume). A name is always looked up inside
 * the held directory (`/proc/self/fd/<dir>/<name>`) and never followed when it is a symlink, so swapping a path
 * component for a symlink between two steps cannot lead an operation anywhere else: the worst a racing writer can
 * do is make us see its own files. Nothing here uses a path string joined from components.
 */
import { fstatSync, lstatSync, readdirSync, readlinkSync, readSync, rmdirSync, unlinkSync, type BigIntStats } from "node:fs";
import { close, lgetxattr, llistxattr, O, open, SysError } from "../../drivers/libc/libc";
import { ConfinedRoot } from "../layers/confined-root";

const ENOENT = 2;
const ENOTDIR = 20;
const ELOOP = 40;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

export const at = ConfinedRoot.at;
const self = ConfinedRoot.self;

/** An O_PATH fd of the directory at `path` (a path we trust: a data-root directory). */
export function openDirPath(path: string): number {
  return open(path, O.PATH | O.DIRECTORY | O.CLOEXEC);
}

/** lstat of `name` in `dirFd`; null when it is gone. */
export function lstatAt(dirFd: number, name: string): BigIntStats | null {
  return lstatSync(at(dirFd, name), { bigint: true, throwIfNoEntry: false }) ?? null;
}

export function fstat(fd: number): BigIntStats {
  return fstatSync(fd, { bigint: true });
}

/**
 * An O_PATH fd of the directory `name` in `dirFd`, refusing to follow a symlink; null when the name is gone or is
 * no longer a directory (it was swapped since it was looked at).
 */
export function openDirAt(dirFd: number, name: string): number | null {
  try {
    return open(at(dirFd, name), O.PATH | O.DIRECTORY | O.NOFOLLOW | O.CLOEXEC);
  } catch (err) {
    if (err instanceof SysError && (err.errno === ENOENT || err.errno === ENOTDIR || err.errno === ELOOP)) return null;
    throw err;
  }
}

/** The entries of the directory `dirFd`, sorted (by UTF-16 code units, the order `<` gives). */
export function listDir(dirFd: number): string[] {
  return readdirSync(self(dirFd)).sort();
}

export function readlinkAt(dirFd: number, name: string): string {
  return readlinkSync(at(dirFd, name));
}

/** The extended attributes of `name` in `dirFd` (never followed), with the names `keep` accepts. */
export function xattrsAt(dirFd: number, name: string, keep: (attribute: string) => boolean = () => true): Map<string, Uint8Array> {
  const target = at(dirFd, name);
  const out = new Map<string, Uint8Array>();
  for (const attribute of llistxattr(target)) {
    if (!keep(attribute)) continue;
    const value = lgetxattr(target, attribute);
    if (value !== null) out.set(attribute, value);
  }
  return out;
}

export function isDirectory(stat: BigIntStats): boolean {
  return (Number(stat.mode) & S_IFMT) === S_IFDIR;
}

/**
 * Open `name` in `dirFd` for reading, only if it is still the regular file `expected` describes (same inode):
 * O_NOFOLLOW refuses a symlink swapped in, O_NONBLOCK keeps a fifo swapped in from blocking the open, and the
 * inode check catches anything else put there. Null when it changed or went away.
 */
export function openFileAt(dirFd: number, name: string, expected: BigIntStats): number | null {
  let fd: number;
  try {
    fd = open(at(dirFd, name), O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.CLOEXEC);
  } catch (err) {
    if (err instanceof SysError && (err.errno === ENOENT || err.errno === ELOOP || err.errno === ENOTDIR)) return null;
    throw err;
  }
  const stat = fstat(fd);
  if ((Number(stat.mode) & S_IFMT) !== S_IFREG || stat.ino !== expected.ino || stat.dev !== expected.dev) {
    close(fd);
    return null;
  }
  return fd;
}

const READ_CHUNK = 1 << 20;

/**
 * Exactly `size` bytes of the open file, in chunks: a file that grew meanwhile is cut at `size`, one that shrank is
 * padded with zeros, so a tar header written from an earlier stat stays true.
 */
export async function* readExactly(fd: number, size: number): AsyncGenerator<Uint8Array> {
  let left = size;
  let eof = false;
  while (left > 0) {
    const chunk = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
    let filled = 0;
    while (!eof && filled < chunk.length) {
      const n = readSync(fd, chunk, filled, chunk.length - filled, null);
      if (n === 0) eof = true;
      filled += n;
    }
    chunk.fill(0, filled);
    left -= chunk.length;
    yield chunk;
  }
}

/**
 * Remove `name` from `dirFd` and, for a directory, everything under it, without ever following a symlink: each
 * directory is entered through an fd opened with O_NOFOLLOW from its parent's fd (node's recursive rm re-resolves
 * path strings, which a concurrent writer can redirect). Nothing happens when the name is gone.
 */
export function removeAt(dirFd: number, name: string, attempts = 3): void {
  try {
    unlinkSync(at(dirFd, name));
    return;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") return;
    if (code !== "EISDIR" && code !== "EPERM") throw err;
  }
  const childFd = openDirAt(dirFd, name);
  // Swapped for a non-directory since the unlink: start over (a bounded number of times).
  if (childFd === null) {
    if (attempts > 0) removeAt(dirFd, name, attempts - 1);
    return;
  }
  try {
    for (const child of listDir(childFd)) removeAt(childFd, child);
  } finally {
    close(childFd);
  }
  try {
    rmdirSync(at(dirFd, name));
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
}
