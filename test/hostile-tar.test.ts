/**
 * Layer extraction (src/layers/extract.ts): the hostile corpus must never touch anything outside the root, in
 * both whiteout modes; well-formed archives from three producers (GNU tar, tar-stream, our raw writer) must
 * round-trip every entry type and attribute; whiteouts must follow the mode.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
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
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { WhiteoutMode } from "../drivers/graph/types";
import { lchown, lgetxattr, llistxattr, lsetxattr, lutimesNs, makedev, mknod } from "../drivers/libc/libc";
import { LayerError } from "../src/layers/errors";
import { extractTar } from "../src/layers/extract";
import { HOSTILE_CASES, hostileContext } from "./fixtures/hostile-tars";
import { buildTar } from "./fixtures/tar";
import { chunked, rawTar } from "./helpers/raw-tar";

const scratch = mkdtempSync("/tmp/bunker-tar-test-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
function freshDir(prefix: string): string {
  const dir = join(scratch, `${prefix}-${counter++}`);
  mkdirSync(dir);
  return dir;
}

/** Everything observable about a tree, keyed by relative path; `skip` names top-level entries left out. */
function describeTree(root: string, skip: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const visit = (rel: string) => {
    const path = rel ? join(root, rel) : root;
    const st = lstatSync(path, { bigint: true });
    const xattrs = Object.fromEntries(llistxattr(path).map((name) => [name, Buffer.from(lgetxattr(path, name) ?? []).toString("hex")]));
    out[rel || "."] = {
      mode: st.mode.toString(8),
      uid: st.uid,
      gid: st.gid,
      size: st.isDirectory() ? 0n : st.size,
      mtimeNs: st.mtimeNs,
      rdev: st.rdev,
      nlink: st.isDirectory() ? 0n : st.nlink,
      link: st.isSymbolicLink() ? readlinkSync(path) : null,
      content: st.isFile() ? createHash("sha256").update(readFileSync(path)).digest("hex") : null,
      xattrs,
    };
    if (st.isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        if (!rel && skip.includes(name)) continue;
        visit(rel ? `${rel}/${name}` : name);
      }
    }
  };
  visit("");
  return out;
}

function hostState(base: string): unknown {
  const passwd = lstatSync("/etc/passwd", { bigint: true });
  return {
    aroundRoot: describeTree(base, ["root"]),
    passwd: { ino: passwd.ino, nlink: passwd.nlink, mtimeNs: passwd.mtimeNs, hash: createHash("sha256").update(readFileSync("/etc/passwd")).digest("hex") },
  };
}

describe.each(["overlay", "delete"] as WhiteoutMode[])("hostile tars (%s whiteouts)", (whiteout) => {
  test("the corpus holds at least 15 cases", () => {
    expect(HOSTILE_CASES.length).toBeGreaterThanOrEqual(15);
  });

  for (const hostile of HOSTILE_CASES) {
    test(hostile.name, async () => {
      const ctx = hostileContext(freshDir("hostile"));
      hostile.setup?.(ctx);
      const before = hostState(join(ctx.root, ".."));
      let error: unknown;
      try {
        await extractTar(chunked(hostile.tar(ctx), 700), ctx.root, { whiteout });
      } catch (err) {
        error = err;
      }
      expect(hostState(join(ctx.root, ".."))).toEqual(before);
      if (error !== undefined) {
        expect(error).toBeInstanceOf(LayerError);
        if (hostile.mentions) expect((error as Error).message).toContain(hostile.mentions);
      }
      if (hostile.expect === "refused") expect(error).toBeInstanceOf(LayerError);
      if (hostile.expect === "neutralised") expect(error).toBeUndefined();
      if (error === undefined) hostile.check?.(ctx);
    });
  }
});

describe("well-formed archives round-trip", () => {
  /** Every entry type and attribute a layer can carry, made on disk by hand. */
  function buildSampleTree(root: string): void {
    const d = join(root, "d");
    mkdirSync(join(d, "sticky"), { recursive: true });
    chmodSync(join(d, "sticky"), 0o1777);
    mkdirSync(join(d, "private"), 0o700);
    lchown(join(d, "private"), 1000, 1000);
    writeFileSync(join(d, "f"), "hello\n");
    lchown(join(d, "f"), 1234, 5678);
    linkSync(join(d, "f"), join(d, "hl"));
    writeFileSync(join(d, "suid"), "#!/bin/sh\n");
    chmodSync(join(d, "suid"), 0o4755);
    writeFileSync(join(d, "sgid"), "");
    lchown(join(d, "sgid"), 0, 50);
    chmodSync(join(d, "sgid"), 0o2710);
    writeFileSync(join(d, "caps"), "ping");
    // cap_setuid (bit 7) puts a 0x80 byte in the value: binary xattrs must survive as bytes.
    lsetxattr(join(d, "caps"), "security.capability", new Uint8Array([1, 0, 0, 2, 0x80, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    writeFileSync(join(d, "xattr"), "x");
    lsetxattr(join(d, "xattr"), "user.text", new TextEncoder().encode("bar"));
    lsetxattr(join(d, "xattr"), "user.binary", new Uint8Array([0, 0xff, 0x80, 10]));
    symlinkSync("../d/f", join(d, "sl"));
    lchown(join(d, "sl"), 42, 43);
    symlinkSync("/etc/passwd", join(d, "abs"));
    mknod(join(d, "cdev"), 0o020640, makedev(1, 3));
    mknod(join(d, "bdev"), 0o060600, makedev(7, 200));
    mknod(join(d, "fifo"), 0o010600, 0n);
    writeFileSync(join(d, "long-".repeat(30)), "long name");
    writeFileSync(join(d, "ünïcødé"), "utf-8 name");
    writeFileSync(join(d, "empty"), "");
    writeFileSync(join(d, "big"), crypto.getRandomValues(new Uint8Array(65536)).join(",").repeat(4));
    lutimesNs(join(d, "f"), 981173106_123456789n, 981173106_123456789n);
    lutimesNs(join(d, "sl"), 1_000_000_000_000000001n, 1_000_000_000_000000001n);
    for (const dir of [join(d, "sticky"), join(d, "private"), d, root]) lutimesNs(dir, 1_600_000_000_500000000n, 1_600_000_000_500000000n);
  }

  test("GNU tar (posix format, xattrs) → extract preserves every type, mode, owner, time, xattr and hardlink", async () => {
    const src = freshDir("gnu-src");
    buildSampleTree(src);
    const tar = spawnSync("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--format=posix", "-cf", "-", "-C", src, "."], { maxBuffer: 1 << 26 });
    expect(tar.status).toBe(0);
    for (const whiteout of ["overlay", "delete"] as WhiteoutMode[]) {
      const dst = freshDir("gnu-dst");
      await extractTar(chunked(new Uint8Array(tar.stdout), 7919), dst, { whiteout });
      expect(describeTree(dst)).toEqual(describeTree(src));
      expect(lstatSync(join(dst, "d/hl")).ino).toBe(lstatSync(join(dst, "d/f")).ino);
    }
  });

  test("the input's chunking does not matter: headers and bodies split anywhere, or all buffered at once", async () => {
    const src = freshDir("chunks-src");
    buildSampleTree(src);
    const tar = spawnSync("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--format=posix", "-cf", "-", "-C", src, "."], { maxBuffer: 1 << 26 });
    expect(tar.status).toBe(0);
    const bytes = new Uint8Array(tar.stdout);
    // Odd sizes split headers and padding; 512 puts every header alone in its chunk; the whole tar is one chunk.
    for (const size of [5, 511, 512, 513, bytes.length]) {
      const dst = freshDir("chunks-dst");
      await extractTar(chunked(bytes, size), dst, { whiteout: "overlay" });
      expect(describeTree(dst)).toEqual(describeTree(src));
    }
  });

  test("tar-stream archives extract", async () => {
    const dst = freshDir("tar-stream");
    const tar = await buildTar([
      { type: "dir", path: "etc" },
      { type: "file", path: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n", mode: 0o600, uid: 0, gid: 0 },
      { type: "file", path: "bin/busybox", content: "ELF", mode: 0o755 },
      { type: "link", path: "bin/sh", target: "bin/busybox" },
      { type: "symlink", path: "bin/ls", target: "busybox" },
      { type: "dir", path: "home/app", uid: 1000, gid: 1000, mode: 0o750 },
    ]);
    await extractTar(chunked(tar, 333), dst, { whiteout: "overlay" });
    expect(readFileSync(join(dst, "etc/passwd"), "utf8")).toBe("root:x:0:0::/root:/bin/sh\n");
    expect(lstatSync(join(dst, "etc/passwd")).mode & 0o7777).toBe(0o600);
    expect(lstatSync(join(dst, "bin/sh")).ino).toBe(lstatSync(join(dst, "bin/busybox")).ino);
    expect(readlinkSync(join(dst, "bin/ls"))).toBe("busybox");
    const home = lstatSync(join(dst, "home/app"));
    expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    expect(lstatSync(join(dst, "home/app")).mtimeMs).toBe(new Date("2024-01-01T00:00:00Z").getTime());
  });

  test("PAX and GNU extensions: long names, big uids, fractional times, binary xattrs, base-256 sizes", async () => {
    const dst = freshDir("pax");
    const longPath = `${"deep/".repeat(40)}file`;
    const sized = new Uint8Array(1000).fill(7);
    const tar = rawTar([
      { name: "placeholder", body: "pax path", pax: { path: longPath } },
      { name: `${"g".repeat(150)}`, body: "gnu name", gnuLongName: true },
      { name: "owner", body: "", pax: { uid: "3000000", gid: "3000001" } },
      { name: "time", body: "", pax: { mtime: "1700000000.987654321", atime: "1700000001.5" } },
      { name: "bin", body: "", pax: { "SCHILY.xattr.user.raw": new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0]) } },
      { name: "sized", body: sized, base256Size: true },
      { name: "link-long", type: "symlink", linkname: "x", pax: { linkpath: `${"t/".repeat(80)}target` } },
    ]);
    await extractTar(chunked(tar, 100), dst, { whiteout: "overlay" });
    expect(readFileSync(join(dst, longPath), "utf8")).toBe("pax path");
    expect(readFileSync(join(dst, "g".repeat(150)), "utf8")).toBe("gnu name");
    const owner = lstatSync(join(dst, "owner"));
    expect([owner.uid, owner.gid]).toEqual([3000000, 3000001]);
    expect(lstatSync(join(dst, "time"), { bigint: true }).mtimeNs).toBe(1700000000_987654321n);
    expect(Buffer.from(lgetxattr(join(dst, "bin"), "user.raw")!).toString("hex")).toBe("deadbeef00");
    expect(readFileSync(join(dst, "sized"))).toEqual(Buffer.from(sized));
    expect(readlinkSync(join(dst, "link-long"))).toBe(`${"t/".repeat(80)}target`);
  });

  test("a later entry replaces an earlier one of another type; a directory entry over a directory merges", async () => {
    const dst = freshDir("replace");
    const tar = rawTar([
      { name: "x", body: "file" },
      { name: "x/", type: "dir" },
      { name: "x/inner", body: "inner" },
      { name: "x/", type: "dir", mode: 0o700 },
      { name: "y/", type: "dir" },
      { name: "y", type: "symlink", linkname: "x" },
    ]);
    await extractTar(chunked(tar), dst, { whiteout: "delete" });
    expect(readFileSync(join(dst, "x/inner"), "utf8")).toBe("inner");
    expect(lstatSync(join(dst, "x")).mode & 0o7777).toBe(0o700);
    expect(readlinkSync(join(dst, "y"))).toBe("x");
  });
});

describe("whiteouts", () => {
  test("overlay mode records whiteouts as 0/0 character devices and opaque directories as an xattr", async () => {
    const dst = freshDir("wh-overlay");
    const tar = rawTar([
      { name: "a/", type: "dir" },
      { name: "a/.wh.gone", body: "" },
      { name: ".wh.top", body: "" },
      { name: "o/", type: "dir" },
      { name: "o/.wh..wh..opq", body: "" },
      { name: "o/new", body: "new" },
      { name: ".wh..wh.plnk/123", body: "aufs bookkeeping" },
    ]);
    await extractTar(chunked(tar), dst, { whiteout: "overlay" });
    for (const path of ["a/gone", "top"]) {
      const st = lstatSync(join(dst, path));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    expect(new TextDecoder().decode(lgetxattr(join(dst, "o"), "trusted.overlay.opaque")!)).toBe("y");
    expect(readFileSync(join(dst, "o/new"), "utf8")).toBe("new");
    expect(readdirSync(dst).sort()).toEqual(["a", "o", "top"]);
  });

  test("delete mode removes whited-out paths and the opaque directory's older content only", async () => {
    const dst = freshDir("wh-delete");
    for (const dir of ["a", "o/sub", "o2"]) mkdirSync(join(dst, dir), { recursive: true });
    for (const file of ["a/gone", "a/kept", "top", "o/old", "o/sub/deep", "o2/old"]) writeFileSync(join(dst, file), "lower");
    const tar = rawTar([
      { name: "a/.wh.gone", body: "" },
      { name: ".wh.top", body: "" },
      { name: "o/", type: "dir" },
      { name: "o/new", body: "new" },
      { name: "o/.wh..wh..opq", body: "" },
      { name: "o2/", type: "dir" },
      { name: "o2/.wh..wh..opq", body: "" },
      { name: "o2/new", body: "new" },
      { name: "missing/.wh.nothing", body: "" },
    ]);
    await extractTar(chunked(tar), dst, { whiteout: "delete" });
    expect(readdirSync(join(dst, "a"))).toEqual(["kept"]);
    expect(readdirSync(dst).sort()).toEqual(["a", "o", "o2"]);
    expect(readdirSync(join(dst, "o"))).toEqual(["new"]);
    expect(readdirSync(join(dst, "o2"))).toEqual(["new"]);
  });
});
