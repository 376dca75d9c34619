/**
 * Turns file-tree nodes into tar entries: the header from the node's lstat (type, mode, owner, mtime, device
 * numbers, symlink target, extended attributes) and, for regular files, the content read through an fd opened
 * without following anything (see fs-at.ts). Hard links within one archive are kept: the second and later names
 * of an inode become hardlink entries to the first. Overlay's own attributes (`trusted.overlay.*`) never leave the
 * host. Sockets are skipped, as Docker does.
 */
import type { BigIntStats } from "node:fs";
import { close } from "../../drivers/libc/libc";
import type { TarEntryType, TarHeader } from "../layers/tar-reader";
import { encodeTarHeader, TAR_END, tarPadding } from "../layers/tar-writer";
import { openFileAt, readExactly, readlinkAt, xattrsAt } from "./fs-at";

/** A node to archive: `name` in the open directory `dirFd`, as lstat saw it. */
export interface NodeRef {
  dirFd: number;
  name: string;
  stat: BigIntStats;
}

const S_IFMT = 0o170000;
const TYPES: Record<number, TarEntryType> = {
  0o100000: "file",
  0o040000: "directory",
  0o120000: "symlink",
  0o020000: "char",
  0o060000: "block",
  0o010000: "fifo",
};

export function entryTypeOf(stat: BigIntStats): TarEntryType | null {
  return TYPES[Number(stat.mode) & S_IFMT] ?? null;
}

const keepXattr = (attribute: string) => !attribute.startsWith("trusted.overlay.") && !attribute.startsWith("user.overlay.");

/** Linux's encoding of device numbers in st_rdev (major in bits 8-19 and 32-43, minor in 0-7 and 20-31). */
export function splitDevice(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

export class TarEntryWriter {
  /** `dev:ino` → the archive name the inode was first written under. */
  private readonly firstNames = new Map<string, string>();

  /**
   * The entry for `node` under `archiveName` (header, body, padding). Yields nothing when the node went away or
   * changed since its lstat, or is a socket: a tree being changed while archived loses what changed, and the
   * archive stays well-formed.
   */
  async *node(archiveName: string, node: NodeRef): AsyncGenerator<Uint8Array> {
    const { stat } = node;
    const type = entryTypeOf(stat);
    if (type === null) return;
    const header: TarHeader = {
      name: archiveName,
      type,
      mode: Number(stat.mode) & 0o7777,
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      size: 0,
      mtimeNs: stat.mtimeNs,
      atimeNs: stat.mtimeNs,
      linkname: "",
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
    };
    try {
      header.xattrs = xattrsAt(node.dirFd, node.name, keepXattr);
      if (type === "symlink") header.linkname = readlinkAt(node.dirFd, node.name);
    } catch (err) {
      if ((err as { code?: string }).code === "ENOENT") return;
      throw err;
    }
    if (type === "char" || type === "block") ({ major: header.devmajor, minor: header.devminor } = splitDevice(stat.rdev));
    const inode = type !== "directory" && stat.nlink > 1n ? `${stat.dev}:${stat.ino}` : null;
    if (inode !== null) {
      const first = this.firstNames.get(inode);
      if (first !== undefined) {
        yield encodeTarHeader({ ...header, type: "hardlink", linkname: first, xattrs: new Map() });
        return;
      }
    }
    if (type !== "file") {
      if (inode !== null) this.firstNames.set(inode, archiveName);
      yield encodeTarHeader(header);
      return;
    }
    const fd = openFileAt(node.dirFd, node.name, stat);
    if (fd === null) return;
    if (inode !== null) this.firstNames.set(inode, archiveName);
    try {
      header.size = Number(stat.size);
      yield encodeTarHeader(header);
      yield* readExactly(fd, header.size);
      yield tarPadding(header.size);
    } finally {
      close(fd);
    }
  }

  /** An empty regular file entry, such as a whiteout (`.wh.<name>`) or an opaque marker (`.wh..wh..opq`). */
  marker(archiveName: string, like?: BigIntStats): Uint8Array {
    return encodeTarHeader({
      name: archiveName,
      type: "file",
      mode: 0o600,
      uid: like ? Number(like.uid) : 0,
      gid: like ? Number(like.gid) : 0,
      size: 0,
      mtimeNs: like?.mtimeNs ?? 0n,
      atimeNs: like?.mtimeNs ?? 0n,
      linkname: "",
      devmajor: 0,
      devminor: 0,
      xattrs: new Map(),
    });
  }

  end(): Uint8Array {
    return TAR_END;
  }
}
