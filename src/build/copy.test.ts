/** COPY/ADD planning against real directory trees: destination rules, confinement, ownership, archives, the hash. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { rawTar } from "../../test/helpers/raw-tar";
import { readTar } from "../layers/tar-reader";
import { resolveOwner } from "./chown";
import { ConfinedTree } from "./confined-tree";
import { directoryEntries, planCopy, type CopyRequest } from "./copy";
import { packTar, type PackEntry } from "./tar-pack";

let work: string;
let context: ConfinedTree;
let rootfs: ConfinedTree;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "bunker-copy-test-"));
  const ctx = join(work, "context");
  mkdirSync(join(ctx, "src/lib"), { recursive: true });
  writeFileSync(join(ctx, "msg.txt"), "hello\n");
  chmodSync(join(ctx, "msg.txt"), 0o640);
  utimesSync(join(ctx, "msg.txt"), 1_600_000_000, 1_600_000_000);
  writeFileSync(join(ctx, "src/main.go"), "package main\n");
  writeFileSync(join(ctx, "src/lib/util.go"), "package lib\n");
  writeFileSync(join(ctx, "a.log"), "a");
  writeFileSync(join(ctx, "b.log"), "b");
  symlinkSync("/etc", join(ctx, "evil"));
  symlinkSync("msg.txt", join(ctx, "link-to-msg"));
  writeFileSync(join(ctx, "bundle.tar.gz"), gzipSync(rawTar([{ name: "pkg/", type: "dir" }, { name: "pkg/file.txt", body: "from archive\n" }])));
  writeFileSync(join(ctx, "hostile.tar"), rawTar([{ name: "../../escaped.txt", body: "x" }]));
  writeFileSync(join(ctx, ".wh.sneaky"), "x");

  const root = join(work, "rootfs");
  mkdirSync(join(root, "etc"), { recursive: true });
  mkdirSync(join(root, "tmp"), { mode: 0o1777 });
  chmodSync(join(root, "tmp"), 0o1777);
  mkdirSync(join(root, "usr/lib"), { recursive: true });
  symlinkSync("usr/lib", join(root, "lib"));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:\n");
  context = new ConfinedTree(ctx);
  rootfs = new ConfinedTree(root);
});

afterAll(() => {
  context?.close();
  rootfs?.close();
  rmSync(work, { recursive: true, force: true });
});

function request(sources: string[], dest: string, extra: Partial<CopyRequest> = {}): CopyRequest {
  return { instruction: "COPY", sources, dest, workdir: "/", from: { tree: context, label: "build context" }, rootfs, owner: null, chmod: null, now: 1_700_000_000, ...extra };
}

async function entriesOf(req: CopyRequest): Promise<PackEntry[]> {
  const plan = await planCopy(req);
  const out: PackEntry[] = [];
  for await (const e of plan.entries()) out.push(e);
  return out;
}

describe("COPY destinations", () => {
  test("a file into an existing directory keeps its mode and mtime, is owned by root, and the directory keeps its metadata", async () => {
    const entries = await entriesOf(request(["msg.txt"], "/tmp"));
    expect(entries.map((e) => [e.name, e.type, e.mode.toString(8), e.uid, e.gid])).toEqual([
      ["tmp", "directory", "1777", 0, 0],
      ["tmp/msg.txt", "file", "640", 0, 0],
    ]);
    expect(entries[1]!.mtime).toBe(1_600_000_000);
  });

  test("a relative destination is under WORKDIR; missing directories are created 0755; no slash means 'this name'", async () => {
    const entries = await entriesOf(request(["msg.txt"], "new/renamed.txt", { workdir: "/app" }));
    expect(entries.map((e) => [e.name, e.mode.toString(8)])).toEqual([
      ["app", "755"],
      ["app/new", "755"],
      ["app/new/renamed.txt", "640"],
    ]);
  });

  test("a directory's contents are copied, symlinks in the image's destination path are followed", async () => {
    const entries = await entriesOf(request(["src"], "/lib/go/"));
    expect(entries.map((e) => e.name)).toEqual(["usr", "usr/lib", "usr/lib/go", "usr/lib/go/lib", "usr/lib/go/lib/util.go", "usr/lib/go/main.go"]);
  });

  test("wildcards, several sources need a trailing slash, --chown by name and --chmod", async () => {
    const owner = resolveOwner("app:staff", rootfs);
    expect(owner).toEqual({ uid: 1000, gid: 50 });
    const entries = await entriesOf(request(["*.log"], "/logs/", { owner, chmod: 0o600 }));
    expect(entries.map((e) => [e.name, e.mode.toString(8), e.uid, e.gid])).toEqual([
      ["logs", "755", 1000, 50],
      ["logs/a.log", "600", 1000, 50],
      ["logs/b.log", "600", 1000, 50],
    ]);
    await expect(planCopy(request(["*.log"], "/logs"))).rejects.toThrow("must be a directory and end with a /");
    expect(() => resolveOwner("nobody", rootfs)).toThrow("no such user");
    expect(resolveOwner("7", null)).toEqual({ uid: 7, gid: 7 });
  });

  test("symlinks in the context are followed inside it only; sources may not climb out; whiteout names are refused", async () => {
    const viaLink = await entriesOf(request(["link-to-msg"], "/x"));
    expect(viaLink.at(-1)).toMatchObject({ name: "x", type: "file", size: 6 });
    await expect(planCopy(request(["evil/passwd"], "/x"))).rejects.toThrow("file not found in build context");
    await expect(planCopy(request(["../outside"], "/x"))).rejects.toThrow("forbidden path outside the build context");
    await expect(planCopy(request([".wh.sneaky"], "/x"))).rejects.toThrow("reserved for layer whiteouts");
    await expect(planCopy(request(["missing.txt"], "/x"))).rejects.toThrow("file not found in build context or excluded by .dockerignore");
  });

  test("the hash follows content and metadata, not the time of the build", async () => {
    const a = await planCopy(request(["msg.txt"], "/m"));
    const b = await planCopy(request(["msg.txt"], "/m", { now: 1 }));
    const c = await planCopy(request(["msg.txt"], "/m", { chmod: 0o600 }));
    expect(a.hash).toBe(b.hash);
    expect(a.hash).not.toBe(c.hash);
    expect(a.createdBy).toMatch(/^COPY file:[0-9a-f]{64} in \/m $/);
  });
});

describe("ADD", () => {
  test("a local compressed tar is unpacked into the destination", async () => {
    const entries = await entriesOf(request(["bundle.tar.gz"], "/opt", { instruction: "ADD" }));
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["opt", "directory"],
      ["opt/pkg", "directory"],
      ["opt/pkg/file.txt", "file"],
    ]);
    // COPY copies the archive as it is.
    expect((await entriesOf(request(["bundle.tar.gz"], "/opt/"))).at(-1)!.name).toBe("opt/bundle.tar.gz");
  });

  test("archive entries that climb out of the destination fail the step", async () => {
    await expect(entriesOf(request(["hostile.tar"], "/opt", { instruction: "ADD" }))).rejects.toThrow("climbs out of the destination");
  });

  test("remote URLs are refused with a clear message", async () => {
    await expect(planCopy(request(["http://example.com/x"], "/x", { instruction: "ADD" }))).rejects.toThrow("fetching remote URLs is not supported");
  });
});

describe("layer tar", () => {
  test("what planCopy describes reads back through the layer tar reader", async () => {
    const plan = await planCopy(request(["src", "msg.txt"], "/app/"));
    const names: string[] = [];
    let content = "";
    for await (const { header, body } of readTar(packTar(plan.entries()))) {
      names.push(header.name);
      if (header.name === "app/msg.txt") for await (const chunk of body) content += new TextDecoder().decode(chunk);
    }
    expect(names).toEqual(["app/", "app/lib/", "app/lib/util.go", "app/main.go", "app/msg.txt"]);
    expect(content).toBe("hello\n");
  });

  test("WORKDIR's directory entries: nothing when it exists (through a symlink), mkdir -p otherwise", () => {
    expect(directoryEntries(rootfs, "/lib", 5)).toBeNull();
    expect(directoryEntries(rootfs, "/srv/app", 5)!.map((e) => [e.name, e.mode.toString(8), e.mtime])).toEqual([
      ["srv", "755", 5],
      ["srv/app", "755", 5],
    ]);
    expect(() => directoryEntries(rootfs, "/etc/passwd", 5)).toThrow("a file of that name exists");
  });
});
