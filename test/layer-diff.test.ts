/**
 * Layer diffs (src/layers/diff.ts) on real snapshots of the overlay, vfs and btrfs graph drivers: a two-layer image,
 * a container snapshot changed through its real mount (so overlayfs writes real whiteouts and opaque directories),
 * then `changes()` must list what docker lists, and `layerTar()` applied onto the image's top layer must rebuild the
 * container's tree exactly. Also `exportTar()` of a mounted tree, and that hostile symlinks in a container's tree
 * are archived as symlinks, never followed.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createGraphDriver } from "../drivers/graph/index";
import type { GraphDriver } from "../drivers/graph/types";
import { lgetxattr, llistxattr, lsetxattr, mknod } from "../drivers/libc/libc";
import { exportTar } from "../src/archive/export";
import { applyLayer } from "../src/layers/apply";
import { changes, ChangeKind, layerTar, type Change } from "../src/layers/diff";
import { extractTar } from "../src/layers/extract";
import { readTar } from "../src/layers/tar-reader";
import { chunked, rawTar } from "./helpers/raw-tar";

const scratch = mkdtempSync("/tmp/bunker-layer-diff-test-");
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const fn of cleanups.reverse()) fn();
  rmSync(scratch, { recursive: true, force: true });
});

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

const { Modified: C, Added: A, Deleted: D } = ChangeKind;

async function directoryDriver(name: string): Promise<GraphDriver> {
  const driver = createGraphDriver(name, mkdtempSync(join(scratch, `${name}-`)));
  await driver.init();
  return driver;
}

/** A btrfs filesystem on a loop device, undone at the end. */
async function btrfsDriver(): Promise<GraphDriver> {
  const base = mkdtempSync(join(scratch, "btrfs-"));
  const image = join(base, "fs.img");
  const mnt = join(base, "mnt");
  mkdirSync(mnt);
  sh("truncate", ["-s", "300M", image]);
  sh("mkfs.btrfs", ["-q", image]);
  const loop = sh("losetup", ["--find", "--show", image]);
  cleanups.push(() => {
    if (spawnSync("umount", [mnt]).status !== 0) spawnSync("umount", ["-l", mnt]);
    spawnSync("losetup", ["-d", loop]);
  });
  sh("mount", [loop, mnt]);
  const driver = createGraphDriver("btrfs", join(mnt, "home"));
  await driver.init();
  return driver;
}

const L1 = "sha256:aaaa000000000000000000000000000000000000000000000000000000000001";
const L2 = "sha256:aaaa000000000000000000000000000000000000000000000000000000000002";

async function layer(driver: GraphDriver, key: string, parent: string | null, entries: Parameters<typeof rawTar>[0]): Promise<void> {
  const building = `build-${key}`;
  await driver.prepare(building, parent);
  await extractTar(chunked(rawTar(entries)), driver.diffDir(building), { whiteout: driver.whiteoutMode });
  await driver.commit(key, building);
}

/** The image: L1, then L2 which deletes one file of L1 and replaces one directory (opaque). */
async function image(driver: GraphDriver): Promise<void> {
  await layer(driver, L1, null, [
    { name: "bin/", type: "dir" },
    { name: "bin/sh", body: "#!/bin/sh\n", mode: 0o755 },
    { name: "etc/", type: "dir" },
    { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
    { name: "etc/hostname", body: "image\n" },
    { name: "keep/", type: "dir" },
    { name: "keep/x", body: "x" },
    { name: "rm-dir/", type: "dir" },
    { name: "rm-dir/sub/", type: "dir" },
    { name: "rm-dir/sub/file", body: "f" },
    { name: "rm-file", body: "gone soon" },
    { name: "opaque/", type: "dir" },
    { name: "opaque/o1", body: "1" },
    { name: "opaque/o2", body: "2" },
    { name: "typechange", body: "a file" },
    { name: "dirtofile/", type: "dir" },
    { name: "dirtofile/inner", body: "i" },
    { name: "link", type: "symlink", linkname: "etc/passwd" },
    { name: "deleted-in-l2", body: "l1" },
    { name: "replaced-in-l2/", type: "dir" },
    { name: "replaced-in-l2/old", body: "old" },
  ]);
  await layer(driver, L2, L1, [
    { name: ".wh.deleted-in-l2", body: "" },
    { name: "replaced-in-l2/", type: "dir" },
    { name: "replaced-in-l2/.wh..wh..opq", body: "" },
    { name: "replaced-in-l2/new", body: "new" },
  ]);
}

/** What a container does to its tree, through the snapshot's real mount. */
function changeTree(root: string): void {
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n");
  writeFileSync(join(root, "etc/new"), "new file");
  lsetxattr(join(root, "etc/new"), "user.bunker", new TextEncoder().encode("value\0with nul"));
  unlinkSync(join(root, "rm-file"));
  rmSync(join(root, "rm-dir"), { recursive: true });
  rmSync(join(root, "opaque"), { recursive: true });
  mkdirSync(join(root, "opaque"));
  writeFileSync(join(root, "opaque/o3"), "3");
  chmodSync(join(root, "keep/x"), 0o600);
  mkdirSync(join(root, "newdir/deep"), { recursive: true });
  writeFileSync(join(root, "newdir/deep/file"), "deep");
  unlinkSync(join(root, "typechange"));
  mkdirSync(join(root, "typechange"));
  writeFileSync(join(root, "typechange/f"), "f");
  rmSync(join(root, "dirtofile"), { recursive: true });
  writeFileSync(join(root, "dirtofile"), "now a file");
  writeFileSync(join(root, "new-hard1"), "shared inode");
  linkSync(join(root, "new-hard1"), join(root, "new-hard2"));
  symlinkSync("/etc", join(root, "newlink"));
  mknod(join(root, "newfifo"), 0o010644, 0n);
  writeFileSync(join(root, "deleted-in-l2"), "back again");
  writeFileSync(join(root, "replaced-in-l2/old"), "old again");
  // Hostile symlinks: archived as links, never followed.
  symlinkSync("/", join(root, "evil-root"));
  symlinkSync("../../../../../../../etc", join(root, "evil-up"));
}

const EXPECTED: Change[] = [
  { Path: "/deleted-in-l2", Kind: A },
  { Path: "/dirtofile", Kind: C },
  { Path: "/etc", Kind: C },
  { Path: "/etc/new", Kind: A },
  { Path: "/etc/passwd", Kind: C },
  { Path: "/evil-root", Kind: A },
  { Path: "/evil-up", Kind: A },
  { Path: "/keep", Kind: C },
  { Path: "/keep/x", Kind: C },
  { Path: "/new-hard1", Kind: A },
  { Path: "/new-hard2", Kind: A },
  { Path: "/newdir", Kind: A },
  { Path: "/newdir/deep", Kind: A },
  { Path: "/newdir/deep/file", Kind: A },
  { Path: "/newfifo", Kind: A },
  { Path: "/newlink", Kind: A },
  { Path: "/opaque", Kind: C },
  { Path: "/opaque/o1", Kind: D },
  { Path: "/opaque/o2", Kind: D },
  { Path: "/opaque/o3", Kind: A },
  { Path: "/replaced-in-l2", Kind: C },
  { Path: "/replaced-in-l2/old", Kind: A },
  { Path: "/rm-dir", Kind: D },
  { Path: "/rm-file", Kind: D },
  { Path: "/typechange", Kind: C },
  { Path: "/typechange/f", Kind: A },
];

interface NodeSummary {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtimeSec?: number;
  content?: string;
  target?: string;
  xattrs: Record<string, string>;
  inodeGroup?: string;
}

/** Everything about a tree that a layer must reproduce (mtimes of files in whole seconds, as tar keeps them). */
function describeTree(root: string): Record<string, NodeSummary> {
  const out: Record<string, NodeSummary> = {};
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const st = lstatSync(full);
      const xattrs: Record<string, string> = {};
      for (const attr of llistxattr(full)) if (attr.startsWith("user.")) xattrs[attr] = Buffer.from(lgetxattr(full, attr)!).toString("hex");
      const node: NodeSummary = { type: st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : "file", mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, xattrs };
      if (st.isFile()) {
        node.content = readFileSync(full, "utf8");
        node.mtimeSec = Math.floor(st.mtimeMs / 1000);
        if (st.nlink > 1) {
          node.inodeGroup = inodes.get(st.ino) ?? path;
          inodes.set(st.ino, node.inodeGroup);
        }
      }
      if (st.isSymbolicLink()) node.target = readlinkSync(full);
      out[path] = node;
      if (st.isDirectory()) visit(path);
    }
  };
  visit("");
  return out;
}

async function tarNames(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of readTar(stream)) names.push(`${entry.header.type}:${entry.header.name}`);
  return names;
}

const drivers: [string, () => Promise<GraphDriver>][] = [
  ["overlay", () => directoryDriver("overlay")],
  ["vfs", () => directoryDriver("vfs")],
  ["btrfs", btrfsDriver],
];

describe.each(drivers)("%s snapshots", (_name, makeDriver) => {
  let driver: GraphDriver;
  let containerRoot: string;

  test("changes() lists what a container added, modified and deleted, parents included", async () => {
    driver = await makeDriver();
    await image(driver);
    await driver.prepare("ctr", L2);
    containerRoot = mkdtempSync(join(scratch, "ctr-"));
    driver.mountAt("ctr", containerRoot);
    cleanups.push(() => driver.unmountAt(containerRoot));
    changeTree(containerRoot);
    expect(await changes(driver, "ctr")).toEqual(EXPECTED);
  });

  test("layerTar() applied onto the image rebuilds the container's tree", async () => {
    const names = await tarNames(layerTar(driver, "ctr"));
    expect(names).toContain("file:.wh.rm-file");
    expect(names).toContain("file:.wh.rm-dir");
    expect(names).toContain("hardlink:new-hard2");
    expect(names).toContain("symlink:evil-root");
    expect(names.some((n) => n.includes("evil-root/") || n.includes("evil-up/"))).toBe(false);
    // Unchanged files of the image are not in the layer.
    expect(names.some((n) => n.endsWith("bin/sh") || n.endsWith("etc/hostname"))).toBe(false);

    await driver.prepare("rebuilt", L2);
    await applyLayer({ blob: layerTar(driver, "ctr"), expectedDigest: null, target: driver.diffDir("rebuilt"), whiteout: driver.whiteoutMode });
    const rebuiltRoot = mkdtempSync(join(scratch, "rebuilt-"));
    driver.mountAt("rebuilt", rebuiltRoot);
    try {
      expect(describeTree(rebuiltRoot)).toEqual(describeTree(containerRoot));
      // And the rebuilt snapshot's own diff is the same change list.
      expect(await changes(driver, "rebuilt")).toEqual(EXPECTED);
    } finally {
      driver.unmountAt(rebuiltRoot);
    }
  });

  test("a snapshot without changes has none, and its layer is an empty archive", async () => {
    await driver.prepare("untouched", L2);
    expect(await changes(driver, "untouched")).toEqual([]);
    expect(await tarNames(layerTar(driver, "untouched"))).toEqual([]);
  });

  test("exportTar() streams the whole merged tree without following symlinks", async () => {
    const names = await tarNames(exportTar(containerRoot));
    expect(names).toContain("directory:bin/");
    expect(names).toContain("file:bin/sh");
    expect(names).toContain("file:etc/hostname");
    expect(names).toContain("hardlink:new-hard2");
    expect(names).toContain("symlink:evil-up");
    expect(names).not.toContain("file:rm-file");
    expect(names.every((n) => !n.includes("evil-root/") && !n.includes("evil-up/"))).toBe(true);
    const extracted = mkdtempSync(join(scratch, "export-"));
    await extractTar(exportTar(containerRoot), extracted, { whiteout: "delete" });
    expect(describeTree(extracted)).toEqual(describeTree(containerRoot));
  });
});

test("a layer holding no base layer (parent null) is all additions", async () => {
  const driver = await directoryDriver("overlay");
  await driver.prepare("scratch", null);
  const root = driver.diffDir("scratch");
  mkdirSync(join(root, "a"));
  writeFileSync(join(root, "a/b"), "b");
  expect(await changes(driver, "scratch")).toEqual([
    { Path: "/a", Kind: A },
    { Path: "/a/b", Kind: A },
  ]);
});
