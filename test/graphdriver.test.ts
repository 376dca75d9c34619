/**
 * One conformance suite for every GraphDriver (overlay, vfs, btrfs): layer chains with whiteouts and opaque
 * directories applied through src/layers/extract and checked through real mounts, 60-layer chains (beyond what
 * mount(2)'s option page allows overlay), read-only views, where an active snapshot's writes land, usage, removal
 * and dependents, errors, and persistence across driver instances. btrfs runs on a loop-mounted image made here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GraphDriverError } from "../drivers/graph/errors";
import { createGraphDriver } from "../drivers/graph/index";
import { mountPlanAt, unmountAt } from "../drivers/graph/mounting";
import type { GraphDriver } from "../drivers/graph/types";
import { lgetxattr } from "../drivers/libc/libc";
import { extractTar } from "../src/layers/extract";
import { chunked, rawTar, type RawEntry } from "./helpers/raw-tar";

const scratch = mkdtempSync("/tmp/bunker-graphdriver-test-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

function mountTypeAt(target: string): string | undefined {
  // mountinfo: "<id> <parent> <maj:min> <root> <mountpoint> <opts> ... - <fstype> <source> <superopts>"
  const line = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .findLast((l) => l.split(" ")[4] === target);
  return line?.split(" - ")[1]?.split(" ")[0];
}

interface DriverFixture {
  driver: GraphDriver;
  home: string;
  /** A second instance on the same home, as after a daemon restart. */
  reopen(): Promise<GraphDriver>;
  cleanup(): void;
}

function conformance(name: string, makeFixture: () => Promise<DriverFixture>): void {
  describe(`${name} graph driver`, () => {
    let fixture: DriverFixture;
    let driver: GraphDriver;
    const mounted: string[] = [];

    beforeAll(async () => {
      fixture = await makeFixture();
      driver = fixture.driver;
    });

    afterAll(() => {
      for (const target of mounted.reverse()) unmountAt(target);
      fixture?.cleanup();
    });

    function mount(key: string): string {
      const target = mkdtempSync(join(scratch, "mnt-"));
      driver.mountAt(key, target);
      mounted.push(target);
      return target;
    }

    function unmount(target: string): void {
      driver.unmountAt(target);
      mounted.splice(mounted.indexOf(target), 1);
    }

    /** prepare → extract the tar into diffDir → commit under `key`, the way a pull builds a layer. */
    async function layer(key: string, parent: string | null, entries: RawEntry[]): Promise<void> {
      const extracting = `extract-${key}`;
      await driver.prepare(extracting, parent);
      await extractTar(chunked(rawTar(entries)), driver.diffDir(extracting), { whiteout: driver.whiteoutMode });
      await driver.commit(key, extracting);
    }

    const L1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const L2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const L3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    function expectMergedChain(root: string): void {
      expect(readFileSync(join(root, "etc/keep"), "utf8")).toBe("keep2");
      expect(readFileSync(join(root, "etc/gone"), "utf8")).toBe("back3");
      expect(readdirSync(join(root, "opq")).sort()).toEqual(["new2", "new3"]);
      expect(lstatSync(join(root, "bin/sh")).mode & 0o7777).toBe(0o4755);
      expect(existsSync(join(root, "link"))).toBe(false);
      expect(existsSync(join(root, "etc/removed"))).toBe(false);
      expect(readFileSync(join(root, "added2"), "utf8")).toBe("2");
      expect(readFileSync(join(root, "added3"), "utf8")).toBe("3");
      expect(readdirSync(root).sort()).toEqual(["added2", "added3", "bin", "etc", "opq"]);
    }

    test("a three-layer chain with whiteouts and opaque directories mounts as the merged view", async () => {
      await layer(L1, null, [
        { name: "etc/", type: "dir" },
        { name: "etc/keep", body: "keep1" },
        { name: "etc/gone", body: "gone1" },
        { name: "etc/removed", body: "removed1" },
        { name: "opq/", type: "dir" },
        { name: "opq/old1", body: "o1" },
        { name: "opq/sub/", type: "dir" },
        { name: "opq/sub/deep", body: "d" },
        { name: "bin/", type: "dir" },
        { name: "bin/sh", body: "#!", mode: 0o4755 },
        { name: "link", type: "symlink", linkname: "etc/keep" },
      ]);
      await layer(L2, L1, [
        { name: "etc/", type: "dir" },
        { name: "etc/.wh.gone", body: "" },
        { name: "etc/.wh.removed", body: "" },
        { name: "etc/keep", body: "keep2" },
        { name: "opq/", type: "dir" },
        { name: "opq/.wh..wh..opq", body: "" },
        { name: "opq/new2", body: "n2" },
        { name: "added2", body: "2" },
      ]);
      await layer(L3, L2, [
        { name: "etc/gone", body: "back3" },
        { name: "opq/new3", body: "n3" },
        { name: ".wh.link", body: "" },
        { name: "added3", body: "3" },
      ]);
      expect(driver.list().filter((s) => s.kind === "committed").map((s) => [s.key, s.parent])).toEqual(
        expect.arrayContaining([
          [L1, null],
          [L2, L1],
          [L3, L2],
        ]),
      );
      await driver.view("view-l3", L3);
      const target = mount("view-l3");
      expectMergedChain(target);
      unmount(target);
      await driver.remove("view-l3");
    });

    test("the overlay driver's diff directories hold whiteouts; the others hold full trees", () => {
      const diff = driver.diffDir(L2);
      if (driver.whiteoutMode === "overlay") {
        expect(lstatSync(join(diff, "etc/gone")).isCharacterDevice()).toBe(true);
        expect(lstatSync(join(diff, "etc/gone")).rdev).toBe(0);
        expect(new TextDecoder().decode(lgetxattr(join(diff, "opq"), "trusted.overlay.opaque") ?? new Uint8Array())).toBe("y");
        expect(existsSync(join(diff, "bin"))).toBe(false);
      } else {
        expect(existsSync(join(diff, "etc/gone"))).toBe(false);
        expect(readdirSync(join(diff, "opq"))).toEqual(["new2"]);
        expect(readFileSync(join(diff, "bin/sh"), "utf8")).toBe("#!");
      }
    });

    test("an active snapshot sees the chain and its writes land in its diff directory", async () => {
      await driver.prepare("container-1", L3);
      const target = mount("container-1");
      expectMergedChain(target);
      writeFileSync(join(target, "hello"), "from the container");
      unlinkSync(join(target, "added2"));
      unmount(target);

      const diff = driver.diffDir("container-1");
      expect(readFileSync(join(diff, "hello"), "utf8")).toBe("from the container");
      if (driver.whiteoutMode === "overlay") {
        expect(lstatSync(join(diff, "added2")).isCharacterDevice()).toBe(true);
        expect(readdirSync(diff).sort()).toEqual(["added2", "hello"]);
      } else {
        expect(existsSync(join(diff, "added2"))).toBe(false);
      }
      const again = mount("container-1");
      expect(readFileSync(join(again, "hello"), "utf8")).toBe("from the container");
      expect(existsSync(join(again, "added2"))).toBe(false);
      expect(readFileSync(join(again, "added3"), "utf8")).toBe("3");
      unmount(again);
      // The committed layers did not change under the container.
      const view = (await driver.view("view-after", L3), mount("view-after"));
      expectMergedChain(view);
      unmount(view);
      await driver.remove("view-after");
    });

    test("detachAt leaves the mount table at once; once released, the snapshot mounts again with its writes", async () => {
      await driver.prepare("container-detach", L3);
      const target = mount("container-detach");
      writeFileSync(join(target, "written"), "before the detach");
      const released = driver.detachAt(target);
      mounted.splice(mounted.indexOf(target), 1);
      expect(mountTypeAt(target)).toBeUndefined();
      expect(readdirSync(target)).toEqual([]);
      await released;
      await driver.detachAt(target); // nothing mounted there any more: a no-op
      const again = mount("container-detach");
      expect(readFileSync(join(again, "written"), "utf8")).toBe("before the detach");
      unmount(again);
      await driver.remove("container-detach");
    });

    test("views and committed snapshots mount read-only", async () => {
      await driver.view("view-ro", L2);
      for (const key of ["view-ro", L3, L1]) {
        const target = mount(key);
        expect(() => writeFileSync(join(target, "nope"), "x")).toThrow(/read-only/i);
        unmount(target);
      }
      await driver.remove("view-ro");
    });

    test("a 60-layer chain mounts", async () => {
      let parent: string | null = null;
      for (let i = 0; i < 60; i++) {
        const key = `sha256:${i.toString(16).padStart(64, "a")}`;
        await layer(key, parent, [{ name: `layer-${i}`, body: String(i) }, ...(i === 59 ? [{ name: ".wh.layer-0", body: "" }] : [])]);
        parent = key;
      }
      await driver.prepare("container-60", parent);
      const target = mount("container-60");
      const names = readdirSync(target);
      expect(names.length).toBe(59);
      expect(names).not.toContain("layer-0");
      expect(readFileSync(join(target, "layer-1"), "utf8")).toBe("1");
      expect(readFileSync(join(target, "layer-59"), "utf8")).toBe("59");
      if (driver.name === "overlay") expect(mountTypeAt(target)).toBe("overlay");
      unmount(target);
    }, 60_000);

    test("usage counts bytes and inodes, hardlinks once", async () => {
      await layer("usage-base", null, [
        { name: "big", body: new Uint8Array(10000) },
        { name: "hard", type: "hardlink", linkname: "big" },
        { name: "d/", type: "dir" },
        { name: "d/small", body: "12345" },
      ]);
      expect(await driver.usage("usage-base")).toEqual({ size: 10005, inodes: 4 });
      await driver.prepare("usage-active", "usage-base");
      await driver.view("usage-view", "usage-base");
      expect(await driver.usage("usage-view")).toEqual({ size: 0, inodes: 0 });
      const fresh = await driver.usage("usage-active");
      expect(fresh.size).toBe(driver.whiteoutMode === "overlay" ? 0 : 10005);
      writeFileSync(join(driver.diffDir("usage-active"), "more"), "abc");
      expect((await driver.usage("usage-active")).size).toBe(fresh.size + 3);
    });

    test("remove refuses snapshots with dependents and deletes the rest", async () => {
      await driver.prepare("rm-active", L1);
      const error = await driver.remove(L1).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GraphDriverError);
      expect((error as GraphDriverError).kind).toBe("has-dependents");
      const dir = driver.diffDir("rm-active");
      await driver.remove("rm-active");
      expect(driver.exists("rm-active")).toBe(false);
      expect(existsSync(dir)).toBe(false);
      for (const key of ["usage-active", "usage-view", "usage-base"]) await driver.remove(key);
      expect(driver.exists("usage-base")).toBe(false);
    });

    test("errors say what is wrong", async () => {
      const kindOf = async (p: Promise<unknown>) => ((await p.catch((e: unknown) => e)) as GraphDriverError).kind;
      expect(await kindOf(driver.prepare("container-1", null))).toBe("already-exists");
      expect(await kindOf(driver.prepare("orphan", "sha256:missing"))).toBe("not-found");
      expect(await kindOf(driver.prepare("on-active", "container-1"))).toBe("invalid-state");
      expect(await kindOf(driver.commit("x", L1))).toBe("invalid-state");
      expect(await kindOf(driver.commit(L2, "container-1"))).toBe("already-exists");
      expect(await kindOf(driver.remove("nothing"))).toBe("not-found");
      expect(() => driver.mountAt("nothing", scratch)).toThrow(GraphDriverError);
    });

    test("keys are opaque: slashes, dots and colons stay inside the home", async () => {
      const key = "../../escape/sha256:abc/./..";
      await driver.prepare(key, null);
      expect(driver.exists(key)).toBe(true);
      expect(driver.diffDir(key).startsWith(`${fixture.home}/`)).toBe(true);
      expect(driver.diffDir(key).split("/")).not.toContain("..");
      await driver.commit(key, key);
      expect(driver.list().find((s) => s.key === key)?.kind).toBe("committed");
      await driver.remove(key);
    });

    test("another instance on the same home sees the same snapshots and chains", async () => {
      const again = await fixture.reopen();
      const byKey = (list: ReturnType<GraphDriver["list"]>) => [...list].sort((a, b) => a.key.localeCompare(b.key));
      expect(byKey(again.list())).toEqual(byKey(driver.list()));
      await again.view("reopened-view", L3);
      const target = mkdtempSync(join(scratch, "mnt-"));
      again.mountAt("reopened-view", target);
      mounted.push(target);
      expectMergedChain(target);
      again.unmountAt(target);
      mounted.splice(mounted.indexOf(target), 1);
      await again.remove("reopened-view");
    });

    test("a writable snapshot whose metadata never reached the disk (empty after a crash) is dropped at start-up", async () => {
      await driver.prepare("container-torn", L3);
      const dir = dirname(driver.diffDir("container-torn"));
      expect(JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"))).toEqual({ key: "container-torn", parent: L3, kind: "active" });
      // What a crash leaves when it comes before the background sync of the metadata.
      writeFileSync(join(dir, "meta.json"), "");
      const again = await fixture.reopen();
      expect(again.exists("container-torn")).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(again.exists(L3)).toBe(true);
    });
  });
}

async function directoryFixture(name: string): Promise<DriverFixture> {
  const home = mkdtempSync(join(scratch, `${name}-home-`));
  const driver = createGraphDriver(name, home);
  await driver.init();
  return {
    driver,
    home,
    reopen: async () => {
      const again = createGraphDriver(name, home);
      await again.init();
      return again;
    },
    cleanup: () => rmSync(home, { recursive: true, force: true }),
  };
}

/** A 512 MiB sparse image, mkfs.btrfs, attached to a loop device and mounted; undone in cleanup. */
async function btrfsFixture(): Promise<DriverFixture> {
  const base = mkdtempSync(join(scratch, "btrfs-"));
  const image = join(base, "fs.img");
  const mountpoint = join(base, "mnt");
  mkdirSync(mountpoint);
  let loop: string | undefined;
  let isMounted = false;
  const cleanup = () => {
    if (isMounted) {
      const r = spawnSync("umount", [mountpoint]);
      if (r.status !== 0) spawnSync("umount", ["-l", mountpoint]);
    }
    if (loop) spawnSync("losetup", ["-d", loop]);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    sh("truncate", ["-s", "512M", image]);
    sh("mkfs.btrfs", ["-q", image]);
    loop = sh("losetup", ["--find", "--show", image]);
    sh("mount", [loop, mountpoint]);
    isMounted = true;
    const home = join(mountpoint, "btrfs");
    const driver = createGraphDriver("btrfs", home);
    await driver.init();
    return {
      driver,
      home,
      reopen: async () => {
        const again = createGraphDriver("btrfs", home);
        await again.init();
        return again;
      },
      cleanup,
    };
  } catch (err) {
    cleanup();
    throw err;
  }
}

conformance("overlay", () => directoryFixture("overlay"));
conformance("vfs", () => directoryFixture("vfs"));
conformance("btrfs", btrfsFixture);

describe("driver selection", () => {
  test("retired drivers and unknown names are refused clearly", () => {
    expect(() => createGraphDriver("aufs", scratch)).toThrow('storage driver "aufs" is not supported, use overlay');
    expect(() => createGraphDriver("devicemapper", scratch)).toThrow('storage driver "devicemapper" is not supported, use overlay');
    expect(() => createGraphDriver("devmapper", scratch)).toThrow('storage driver "devmapper" is not supported, use overlay');
    expect(() => createGraphDriver("floppy", scratch)).toThrow('unknown storage driver "floppy"');
    expect(createGraphDriver("overlay2", scratch).name).toBe("overlay");
  });

  test("btrfs refuses a home that is not on btrfs", async () => {
    const driver = createGraphDriver("btrfs", join(scratch, "not-btrfs"));
    await expect(driver.init()).rejects.toThrow("needs its home on a btrfs filesystem");
  });
});

describe("overlay mounting without the new mount API", () => {
  test("mount(2) handles a short chain and refuses one whose options overflow a page", () => {
    const base = mkdtempSync(join(scratch, "legacy-"));
    const lowers = Array.from({ length: 60 }, (_, i) => {
      const dir = join(base, `lower-with-a-fairly-long-directory-name-${i}`);
      mkdirSync(dir);
      writeFileSync(join(dir, `f${i}`), String(i));
      return dir;
    });
    const upper = { dir: join(base, "upper"), work: join(base, "work") };
    mkdirSync(upper.dir);
    mkdirSync(upper.work);
    const target = join(base, "target");
    mkdirSync(target);
    mountPlanAt({ type: "overlay", lowers: lowers.slice(0, 3), upper }, target, "legacy");
    try {
      expect(readdirSync(target).sort()).toEqual(["f0", "f1", "f2"]);
      expect(mountTypeAt(target)).toBe("overlay");
    } finally {
      unmountAt(target);
    }
    expect(() => mountPlanAt({ type: "overlay", lowers, upper }, target, "legacy")).toThrow(/exceed a page/);
    expect(mountTypeAt(target)).toBeUndefined();
  });
});
