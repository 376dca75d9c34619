/**
 * What a writable snapshot changed relative to its parent, as `docker diff` lists it and as a layer tar carries it
 * (`docker commit`, and any layer made from a container).
 *
 * overlay: the snapshot's own directory (overlayfs' upper dir) holds exactly the changes. A 0/0 character device is
 * a deleted path, a directory with `trusted.overlay.opaque=y` replaced the lower one (whatever the lower had under
 * it is gone), anything else was added, or modified when the merged lower layers have the path. A directory copied
 * up only because something inside it changed keeps its metadata and is not a change by itself.
 *
 * vfs, btrfs: the snapshot directory is a full tree; it is compared with its parent's tree. Both trees are walked
 * into stat records keyed by the paths' merge order, and the compare step (wasm/select.ts) finds what was added,
 * deleted, or modified (moby's naive-diff rule: mode, owner, device, file capabilities, and size or mtime for
 * anything but a directory).
 *
 * Either way, the parents of a change are listed as modified (the layer must carry them so their metadata is
 * restored), a deleted directory is one change (not one per entry under it), and the list is in path order.
 *
 * A container may be running and changing the tree meanwhile: every walk goes through held directory fds and
 * never follows a symlink (src/archive/fs-at.ts), so it can miss or see half of a concurrent change but never read
 * outside the snapshot.
 */
import { lstatSync, readdirSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import type { GraphDriver, SnapshotInfo } from "../../drivers/graph/types";
import { close, lgetxattr } from "../../drivers/libc/libc";
import { StatRecords } from "../../wasm/records";
import { diffCompare } from "../../wasm/select";
import { ChangeKind } from "../../wasm/types";
import { at, isDirectory, lstatAt, openDirPath } from "../archive/fs-at";
import { TarEntryWriter } from "../archive/tar-entries";
import { walkTree, type TreeNode } from "../archive/walk";
import { toReadableStream } from "../images/streams";
import { ConfinedRoot } from "./confined-root";
import { LayerError } from "./errors";

export { ChangeKind };

/** One entry of `GET /containers/{id}/changes`. */
export interface Change {
  Path: string;
  Kind: ChangeKind;
}

const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFREG = 0o100000;

/** The changes of snapshot `key` against its parent, in path order. */
export async function changes(driver: GraphDriver, key: string): Promise<Change[]> {
  const chain = snapshotChain(driver, key);
  if (driver.whiteoutMode === "overlay") {
    return overlayChanges(driver.diffDir(key), chain.slice(1).map((s) => driver.diffDir(s.key)));
  }
  const parent = chain[1];
  return compareTrees(parent ? driver.diffDir(parent.key) : null, driver.diffDir(key));
}

/**
 * The uncompressed layer tar of snapshot `key`'s changes: deletions as `.wh.<name>` entries, a replaced directory
 * with a `.wh..wh..opq` entry, hard links within the layer kept, extended attributes carried (overlay's own
 * excepted). Read it once; the walk happens as the stream is pulled.
 */
export function layerTar(driver: GraphDriver, key: string): ReadableStream<Uint8Array> {
  const chain = snapshotChain(driver, key);
  if (driver.whiteoutMode === "overlay") return toReadableStream(overlayLayerTar(driver.diffDir(key)));
  const parent = chain[1];
  return toReadableStream(treeLayerTar(parent ? driver.diffDir(parent.key) : null, driver.diffDir(key)));
}

/** The snapshot and its ancestors, nearest first. */
function snapshotChain(driver: GraphDriver, key: string): SnapshotInfo[] {
  const byKey = new Map(driver.list().map((s) => [s.key, s]));
  const chain: SnapshotInfo[] = [];
  for (let next: string | null = key; next !== null; next = chain.at(-1)!.parent) {
    const snapshot = byKey.get(next);
    if (!snapshot) throw new LayerError(`snapshot ${next} does not exist`);
    if (chain.length > 1000) throw new LayerError(`snapshot ${key} has a parent cycle`);
    chain.push(snapshot);
  }
  return chain;
}

// ---- change lists ----

/** Collects changes and adds the parents of each as modified, once; `finish` sorts them into path order. */
class ChangeList {
  private readonly recorded = new Map<string, ChangeKind>();

  record(path: string[], kind: ChangeKind): void {
    for (let i = 1; i < path.length; i++) {
      const ancestor = path.slice(0, i).join("\0");
      if (!this.recorded.has(ancestor)) this.recorded.set(ancestor, ChangeKind.Modified);
    }
    this.recorded.set(path.join("\0"), kind);
  }

  finish(): Change[] {
    return [...this.recorded.keys()].sort().map((key) => ({ Path: `/${key.replaceAll("\0", "/")}`, Kind: this.recorded.get(key)! }));
  }
}

// ---- overlay ----

function isWhiteout(stat: BigIntStats): boolean {
  return (Number(stat.mode) & S_IFMT) === S_IFCHR && stat.rdev === 0n;
}

function isOpaque(path: string): boolean {
  const value = lgetxattr(path, "trusted.overlay.opaque");
  return value !== null && value.length === 1 && value[0] === 0x79;
}

/** What a merged lower has at `name` inside one of the directories `lowers` (nearest first): its stat, or null. */
function lowerEntry(lowers: readonly string[], name: string): BigIntStats | null {
  for (const dir of lowers) {
    const stat = lstatSync(join(dir, name), { bigint: true, throwIfNoEntry: false });
    if (stat) return isWhiteout(stat) ? null : stat;
  }
  return null;
}

/**
 * The lower directories that make up the merged directory `name` inside `lowers`: each layer's directory of that
 * name, nearest first, until a layer hides the ones below (a whiteout, a non-directory, an opaque directory).
 * Lower layers are committed image layers, so plain paths are safe here.
 */
function lowerDirsOf(lowers: readonly string[], name: string): string[] {
  const dirs: string[] = [];
  for (const dir of lowers) {
    const path = join(dir, name);
    const stat = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    if (!stat) continue;
    if (!isDirectory(stat)) break;
    dirs.push(path);
    if (isOpaque(path)) break;
  }
  return dirs;
}

/** The names a merged directory made of `dirs` shows. */
function mergedNames(dirs: readonly string[]): Set<string> {
  const shown = new Set<string>();
  const hidden = new Set<string>();
  for (const dir of dirs) {
    for (const name of readdirSync(dir)) {
      if (shown.has(name) || hidden.has(name)) continue;
      const stat = lstatSync(join(dir, name), { bigint: true, throwIfNoEntry: false });
      if (stat && isWhiteout(stat)) hidden.add(name);
      else if (stat) shown.add(name);
    }
  }
  return shown;
}

/** Directory metadata that counts as a change (a directory's size and mtime change with its entries). */
function sameDirectory(a: BigIntStats, b: BigIntStats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

async function overlayChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const list = new ChangeList();
  /** The merged lower directories behind each upper directory visited, by "\0"-joined path. */
  const lowerDirs = new Map<string, string[]>([["", lowers]]);
  const upperFd = openDirPath(upper);
  try {
    for await (const node of walkTree(upperFd)) {
      const parentKey = node.path.slice(0, -1).join("\0");
      const below = lowerDirs.get(parentKey) ?? [];
      if (isWhiteout(node.stat)) {
        list.record(node.path, ChangeKind.Deleted);
        continue;
      }
      const lower = lowerEntry(below, node.name);
      if (!node.children) {
        list.record(node.path, lower ? ChangeKind.Modified : ChangeKind.Added);
        continue;
      }
      const opaque = isOpaque(at(node.dirFd, node.name));
      const behind = lower && isDirectory(lower) ? lowerDirsOf(below, node.name) : [];
      lowerDirs.set(node.path.join("\0"), opaque ? [] : behind);
      if (!lower) list.record(node.path, ChangeKind.Added);
      else if (opaque || !isDirectory(lower) || !sameDirectory(node.stat, lower)) list.record(node.path, ChangeKind.Modified);
      if (opaque) {
        const kept = new Set(node.children);
        for (const gone of mergedNames(behind)) if (!kept.has(gone)) list.record([...node.path, gone], ChangeKind.Deleted);
      }
    }
  } finally {
    close(upperFd);
  }
  return list.finish();
}

async function* overlayLayerTar(upper: string): AsyncGenerator<Uint8Array> {
  const writer = new TarEntryWriter();
  const upperFd = openDirPath(upper);
  try {
    for await (const node of walkTree(upperFd)) {
      const name = node.path.join("/");
      if (isWhiteout(node.stat)) {
        yield writer.marker([...node.path.slice(0, -1), WHITEOUT_PREFIX + node.name].join("/"), node.stat);
        continue;
      }
      yield* writer.node(name, node);
      if (node.children && isOpaque(at(node.dirFd, node.name))) yield writer.marker(`${name}/${OPAQUE_MARKER}`, node.stat);
    }
    yield writer.end();
  } finally {
    close(upperFd);
  }
}

// ---- full trees (vfs, btrfs) ----

/** One walked tree: paths ("\0"-joined, in walk order, which is sorted order) and what lstat said of each. */
interface TreeScan {
  keys: string[];
  stats: BigIntStats[];
  /** A tag of each regular file's security.capability (0: none), which the compare step checks. */
  capabilities: number[];
}

async function scanTree(root: string | null): Promise<TreeScan> {
  const scan: TreeScan = { keys: [], stats: [], capabilities: [] };
  if (root === null) return scan;
  const rootFd = openDirPath(root);
  try {
    for await (const node of walkTree(rootFd)) {
      scan.keys.push(node.path.join("\0"));
      scan.stats.push(node.stat);
      scan.capabilities.push((Number(node.stat.mode) & S_IFMT) === S_IFREG ? capabilityTag(node) : 0);
    }
  } finally {
    close(rootFd);
  }
  return scan;
}

function capabilityTag(node: TreeNode): number {
  const value = lgetxattr(at(node.dirFd, node.name), "security.capability");
  if (value === null) return 0;
  return Number(BigInt(Bun.hash(value)) & 0xffffffffn) || 1;
}

async function compareTrees(lowerRoot: string | null, upperRoot: string): Promise<Change[]> {
  const [lower, upper] = [await scanTree(lowerRoot), await scanTree(upperRoot)];
  // Keys for the records: positions in the merged order of both path lists, so equal paths get equal keys.
  const lowerRecords = new StatRecords(lower.keys.length);
  const upperRecords = new StatRecords(upper.keys.length);
  let i = 0;
  let j = 0;
  for (let key = 0; i < lower.keys.length || j < upper.keys.length; key++) {
    const a = lower.keys[i];
    const b = upper.keys[j];
    if (b === undefined || (a !== undefined && a < b)) {
      lowerRecords.pushStat(key, lower.stats[i]!, 0, lower.capabilities[i]);
      i++;
    } else if (a === undefined || b < a) {
      upperRecords.pushStat(key, upper.stats[j]!, 0, upper.capabilities[j]);
      j++;
    } else {
      lowerRecords.pushStat(key, lower.stats[i]!, 0, lower.capabilities[i]);
      upperRecords.pushStat(key, upper.stats[j]!, 0, upper.capabilities[j]);
      i++;
      j++;
    }
  }
  const pairs = diffCompare(lowerRecords, upperRecords);
  const upperIndex = new Map(upper.keys.map((k, index) => [k, index]));
  const list = new ChangeList();
  for (let n = 0; n < pairs.length; n += 2) {
    const kind = pairs[n] as ChangeKind;
    const index = pairs[n + 1]!;
    if (kind !== ChangeKind.Deleted) {
      list.record(upper.keys[index]!.split("\0"), kind);
      continue;
    }
    // Only the top of a deleted subtree is a change, and nothing under a directory that became something else.
    const key = lower.keys[index]!;
    const cut = key.lastIndexOf("\0");
    if (cut >= 0) {
      const parent = upperIndex.get(key.slice(0, cut));
      if (parent === undefined || !isDirectory(upper.stats[parent]!)) continue;
    }
    list.record(key.split("\0"), ChangeKind.Deleted);
  }
  return list.finish();
}

async function* treeLayerTar(lowerRoot: string | null, upperRoot: string): AsyncGenerator<Uint8Array> {
  const found = await compareTrees(lowerRoot, upperRoot);
  const writer = new TarEntryWriter();
  const root = new ConfinedRoot(upperRoot);
  // The parent directory of the last entry, kept open: entries of one directory come together.
  let current = null as { key: string; fd: number } | null;
  try {
    for (const change of found) {
      const path = change.Path.slice(1).split("/");
      const base = path.pop()!;
      if (change.Kind === ChangeKind.Deleted) {
        yield writer.marker([...path, WHITEOUT_PREFIX + base].join("/"));
        continue;
      }
      const parentKey = path.join("/");
      if (current?.key !== parentKey) {
        if (current) close(current.fd);
        current = null;
        const fd = root.openDir(path, false);
        if (fd === null) continue;
        current = { key: parentKey, fd };
      }
      const stat = lstatAt(current.fd, base);
      if (stat) yield* writer.node(change.Path.slice(1), { dirFd: current.fd, name: base, stat });
    }
    yield writer.end();
  } finally {
    if (current) close(current.fd);
    root.close();
  }
}
