/**
 * btrfs: each snapshot's `diff` is a btrfs subvolume. A base layer is a new subvolume, an active snapshot is a
 * writable snapshot of its parent's subvolume, committed snapshots and views are read-only snapshots, so every
 * copy is copy-on-write and instant. Like vfs, `diff` is the full tree and layers apply with "delete" whiteouts.
 * Everything goes through ioctls on the home filesystem, which must be btrfs.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { close, ioctl, O, open, statfsType, SysError } from "../libc/libc";
import { GraphDriverError } from "./errors";
import type { MountPlan } from "./mounting";
import { DirectorySnapshotter } from "./snapshotter";
import { removeTree } from "./tree";
import type { SnapshotInfo } from "./types";

const BTRFS_SUPER_MAGIC = 0x9123683en;

export class BtrfsDriver extends DirectorySnapshotter {
  readonly name = "btrfs";
  readonly whiteoutMode = "delete" as const;

  protected checkSupport(): void {
    if (statfsType(this.home) !== BTRFS_SUPER_MAGIC) {
      throw new GraphDriverError("unsupported", `the btrfs storage driver needs its home on a btrfs filesystem, and ${this.home} is not`);
    }
  }

  protected async createActive(dir: string, parent: SnapshotInfo | null): Promise<void> {
    if (parent) snapshotSubvolume(this.diffDir(parent.key), dir, "diff", false);
    else createSubvolume(dir, "diff");
  }

  protected async createView(dir: string, parent: SnapshotInfo): Promise<void> {
    snapshotSubvolume(this.diffDir(parent.key), dir, "diff", true);
  }

  protected async freeze(from: string, to: string): Promise<void> {
    snapshotSubvolume(join(from, "diff"), to, "diff", true);
  }

  protected async destroy(dir: string): Promise<void> {
    if (isSubvolume(join(dir, "diff"))) destroySubvolumeTree(dir, "diff");
    await removeTree(dir);
  }

  protected mountPlan(snapshot: SnapshotInfo): MountPlan {
    return { type: "bind", source: this.diffDir(snapshot.key), readonly: snapshot.kind !== "active" };
  }
}

// ---- ioctls (linux/btrfs.h) ----
const VOL_ARGS_SIZE = 4096;
/** _IOW(0x94, nr, 4096-byte args) */
const iow = (nr: number) => (1 << 30) | (VOL_ARGS_SIZE << 16) | (0x94 << 8) | nr;
const BTRFS_IOC_SUBVOL_CREATE = iow(14);
const BTRFS_IOC_SNAP_DESTROY = iow(15);
const BTRFS_IOC_SNAP_CREATE_V2 = iow(23);
const BTRFS_SUBVOL_RDONLY = 1n << 1n;
/** Inode number of every subvolume's root directory. */
const BTRFS_FIRST_FREE_OBJECTID = 256;
const ENOTEMPTY = 39;

/** struct btrfs_ioctl_vol_args { s64 fd; char name[4088]; } */
function volArgs(name: string, fd = 0): Uint8Array {
  const args = new Uint8Array(VOL_ARGS_SIZE);
  new DataView(args.buffer).setBigInt64(0, BigInt(fd), true);
  putName(args, 8, 4088, name);
  return args;
}

function putName(args: Uint8Array, offset: number, capacity: number, name: string): void {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length >= capacity || bytes.includes(0x2f)) throw new GraphDriverError("invalid-state", `invalid subvolume name ${JSON.stringify(name)}`);
  args.set(bytes, offset);
}

function withDirFd<T>(path: string, fn: (fd: number) => T): T {
  const fd = open(path, O.RDONLY | O.DIRECTORY | O.CLOEXEC);
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

function createSubvolume(parentDir: string, name: string): void {
  withDirFd(parentDir, (fd) => ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, volArgs(name)));
}

/**
 * struct btrfs_ioctl_vol_args_v2 { s64 fd; u64 transid; u64 flags; union { u64 size; ...; u64 unused[4]; };
 * union { char name[4040]; ... }; } — name at offset 56.
 */
function snapshotSubvolume(source: string, parentDir: string, name: string, readonly: boolean): void {
  withDirFd(source, (sourceFd) =>
    withDirFd(parentDir, (parentFd) => {
      const args = new Uint8Array(VOL_ARGS_SIZE);
      const view = new DataView(args.buffer);
      view.setBigInt64(0, BigInt(sourceFd), true);
      view.setBigUint64(16, readonly ? BTRFS_SUBVOL_RDONLY : 0n, true);
      putName(args, 56, 4040, name);
      ioctl(parentFd, BTRFS_IOC_SNAP_CREATE_V2, args);
    }),
  );
}

function isSubvolume(path: string): boolean {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  return stat !== undefined && stat.isDirectory() && stat.ino === BTRFS_FIRST_FREE_OBJECTID;
}

/** Destroy a subvolume, first destroying any subvolume a container created inside it (btrfs refuses otherwise). */
function destroySubvolumeTree(parentDir: string, name: string): void {
  try {
    withDirFd(parentDir, (fd) => ioctl(fd, BTRFS_IOC_SNAP_DESTROY, volArgs(name)));
  } catch (err) {
    if (!(err instanceof SysError && err.errno === ENOTEMPTY)) throw err;
    const path = join(parentDir, name);
    for (const nested of nestedSubvolumes(path)) destroySubvolumeTree(join(path, ...nested.slice(0, -1)), nested.at(-1)!);
    withDirFd(parentDir, (fd) => ioctl(fd, BTRFS_IOC_SNAP_DESTROY, volArgs(name)));
  }
}

/** Relative paths (as components) of the subvolumes directly nested in `root`, not descending into them. */
function nestedSubvolumes(root: string, prefix: string[] = []): string[][] {
  const found: string[][] = [];
  for (const entry of readdirSync(join(root, ...prefix), { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const rel = [...prefix, entry.name];
    if (isSubvolume(join(root, ...rel))) found.push(rel);
    else found.push(...nestedSubvolumes(root, rel));
  }
  return found;
}
