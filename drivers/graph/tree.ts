/**
 * Whole-tree operations on snapshot directories: a faithful copy (vfs), disk usage, removal. None follows a
 * symlink. They yield to the event loop every few hundred entries so a big tree does not stall the daemon.
 */
import { copyFileSync, constants, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, chmodSync, symlinkSync, type BigIntStats } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { lchown, lgetxattr, llistxattr, lsetxattr, lutimesNs, mknod } from "../libc/libc";
import type { SnapshotUsage } from "./types";

const YIELD_EVERY = 256;

/**
 * Copy the content of directory `src` into the existing directory `dst`, preserving owners, modes (setuid,
 * sticky), xattrs, times, symlinks, device nodes, fifos and hardlinks within the tree. `dst` itself takes the
 * metadata of `src`.
 */
export async function copyTree(src: string, dst: string): Promise<void> {
  const copies = new Map<string, string>();
  let visited = 0;

  async function copyChildren(from: string, to: string): Promise<void> {
    for (const name of readdirSync(from)) {
      const source = join(from, name);
      const target = join(to, name);
      const stat = lstatSync(source, { bigint: true });
      if (stat.isDirectory()) {
        mkdirSync(target, 0o700);
        await copyChildren(source, target);
      } else {
        const inode = `${stat.dev}:${stat.ino}`;
        const firstCopy = stat.nlink > 1n ? copies.get(inode) : undefined;
        if (firstCopy !== undefined) {
          linkSync(firstCopy, target);
          continue;
        }
        copyNode(source, target, stat);
        if (stat.nlink > 1n) copies.set(inode, target);
      }
      copyMetadata(source, target, stat);
      if (++visited % YIELD_EVERY === 0) await yieldToEventLoop();
    }
  }

  await copyChildren(src, dst);
  copyMetadata(src, dst, lstatSync(src, { bigint: true }));
}

function copyNode(source: string, target: string, stat: BigIntStats): void {
  if (stat.isFile()) copyFileSync(source, target, constants.COPYFILE_EXCL);
  else if (stat.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
  else mknod(target, (Number(stat.mode) & constants.S_IFMT) | 0o600, stat.rdev);
}

/** Owner first (chown clears setuid bits and file capabilities), then mode and xattrs, times last. */
function copyMetadata(source: string, target: string, stat: BigIntStats): void {
  lchown(target, Number(stat.uid), Number(stat.gid));
  if (!stat.isSymbolicLink()) chmodSync(target, Number(stat.mode) & 0o7777);
  for (const name of llistxattr(source)) {
    const value = lgetxattr(source, name);
    if (value !== null) lsetxattr(target, name, value);
  }
  lutimesNs(target, stat.atimeNs, stat.mtimeNs);
}

/** Apparent size of the non-directories plus the number of inodes, each hardlinked inode counted once. */
export async function treeUsage(root: string): Promise<SnapshotUsage> {
  const seen = new Set<string>();
  let size = 0;
  async function visit(path: string): Promise<void> {
    const stat = lstatSync(path, { bigint: true });
    const inode = `${stat.dev}:${stat.ino}`;
    if (seen.has(inode)) return;
    seen.add(inode);
    if (seen.size % YIELD_EVERY === 0) await yieldToEventLoop();
    if (!stat.isDirectory()) {
      size += Number(stat.size);
      return;
    }
    for (const name of readdirSync(path)) await visit(join(path, name));
  }
  await visit(root);
  return { size, inodes: seen.size };
}

export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
