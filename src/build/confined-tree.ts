/**
 * Read-only access to a directory tree that is not ours to trust — a build context extracted from a client's
 * tar, or the root filesystem of an image — with every path resolved by the kernel inside the tree
 * (openat2 RESOLVE_IN_ROOT): a symlink in it, absolute or full of `..`, can only ever lead to another place in
 * the tree, never to the host's files (ARCHITECTURE.md rule 4). The trees read here do not change while a build
 * reads them (our own extracted context, read-only image views), so resolving a path twice gives one answer.
 */
import { realpathSync, readSync, readlinkSync, type BigIntStats } from "node:fs";
import { close, O, open, openat2, RESOLVE, SysError } from "../../drivers/libc/libc";
import { Errno } from "../../drivers/libc/errno";
import { fstat, listDir, lstatAt, readlinkAt } from "../archive/fs-at";
import { entryTypeOf, splitDevice } from "../archive/tar-entries";
import type { TarEntryType } from "../layers/tar-reader";
import { readFd } from "./tar-pack";

export interface TreeStat {
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** A symlink's target. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const RESOLVE_FLAGS = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS;
const MISSING = new Set<number>([Errno.ENOENT, Errno.ENOTDIR]);

/** What a build needs of an lstat; null for sockets, which have no place in a layer. */
function statOf(st: BigIntStats, linkname?: string): TreeStat | null {
  const type = entryTypeOf(st);
  if (type === null) return null;
  const device = type === "char" || type === "block" ? splitDevice(st.rdev) : { major: 0, minor: 0 };
  return {
    type,
    mode: Number(st.mode) & 0o7777,
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: type === "file" ? Number(st.size) : 0,
    mtime: Number(st.mtimeNs / 1_000_000_000n),
    linkname,
    devmajor: device.major,
    devminor: device.minor,
  };
}

/** `a/b/c` → components; the tree's root is "". Paths are already cleaned (no `..` left). */
function split(rel: string): { parent: string; base: string } {
  const slash = rel.lastIndexOf("/");
  return slash < 0 ? { parent: "", base: rel } : { parent: rel.slice(0, slash), base: rel.slice(slash + 1) };
}

export class ConfinedTree {
  private readonly rootFd: number;
  private readonly realRoot: string;

  constructor(readonly root: string) {
    this.rootFd = open(root, O.PATH | O.DIRECTORY | O.CLOEXEC);
    this.realRoot = realpathSync(root);
  }

  close(): void {
    close(this.rootFd);
  }

  /** An fd for `rel` resolved inside the tree, or null when it does not exist. */
  private openIn(rel: string, flags: number): number | null {
    try {
      return openat2(this.rootFd, rel === "" ? "." : rel, flags | O.CLOEXEC, RESOLVE_FLAGS);
    } catch (err) {
      if (err instanceof SysError && MISSING.has(err.errno)) return null;
      throw err;
    }
  }

  /** The entry itself (a final symlink is not followed; the directories on the way are, inside the tree). */
  lstat(rel: string): TreeStat | null {
    if (rel === "") return this.stat("");
    const { parent, base } = split(rel);
    const dirFd = this.openIn(parent, O.PATH | O.DIRECTORY);
    if (dirFd === null) return null;
    try {
      const st = lstatAt(dirFd, base);
      if (!st) return null;
      return statOf(st, st.isSymbolicLink() ? readlinkAt(dirFd, base) : undefined);
    } finally {
      close(dirFd);
    }
  }

  /** What `rel` leads to, following every symlink inside the tree. */
  stat(rel: string): TreeStat | null {
    const fd = this.openIn(rel, O.PATH);
    if (fd === null) return null;
    try {
      return statOf(fstat(fd));
    } finally {
      close(fd);
    }
  }

  /** Where `rel` really is inside the tree once its symlinks are followed ("" for the root), or null if missing. */
  realPath(rel: string): string | null {
    const fd = this.openIn(rel, O.PATH);
    if (fd === null) return null;
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === this.realRoot) return "";
      if (!target.startsWith(`${this.realRoot}/`)) throw new Error(`${rel} resolved outside its tree`);
      return target.slice(this.realRoot.length + 1);
    } finally {
      close(fd);
    }
  }

  /** Names in the directory `rel` (its final component is not followed), sorted. */
  readdir(rel: string): string[] {
    const fd = this.openIn(rel, O.PATH | O.DIRECTORY | O.NOFOLLOW);
    if (fd === null) return [];
    try {
      return listDir(fd);
    } finally {
      close(fd);
    }
  }

  /** The content of the regular file `rel` (`follow`: through a final symlink), opened only when iterated. */
  content(rel: string, size: number, follow: boolean): () => AsyncIterable<Uint8Array> {
    return () => {
      const fd = this.openIn(rel, O.RDONLY | O.NONBLOCK | (follow ? 0 : O.NOFOLLOW));
      if (fd === null) throw new Error(`${rel} disappeared while it was being copied`);
      if (!fstat(fd).isFile()) {
        close(fd);
        throw new Error(`${rel} is no longer a regular file`);
      }
      return readFd(fd, size, close);
    };
  }

  /** Up to `maxBytes` from the start of the regular file `rel` (following symlinks inside the tree), or null. */
  readHead(rel: string, maxBytes: number): Buffer | null {
    const fd = this.openIn(rel, O.RDONLY | O.NONBLOCK);
    if (fd === null) return null;
    try {
      const st = fstat(fd);
      if (!st.isFile()) return null;
      const buf = Buffer.alloc(Math.min(Number(st.size), maxBytes));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      close(fd);
    }
  }

  /** A small regular file's text (following symlinks inside the tree), or null when missing or not a file. */
  readText(rel: string, maxBytes: number): string | null {
    return this.readHead(rel, maxBytes)?.toString("utf8") ?? null;
  }
}
