/**
 * `docker cp` primitives (src/archive/copy.ts) on a real directory tree standing in for a container's root, with
 * hostile symlinks (`/`, `../..` chains, absolute host paths) and a process that keeps swapping a path component
 * for a symlink to a host directory while copies run both ways: nothing outside the root may be read or written.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { archivePath, encodePathStat, extractArchive, statPath, type ContainerFs } from "../src/archive/copy";
import { InvalidParameterError, NotFoundError } from "../src/errors";
import { readTar, type TarHeader } from "../src/layers/tar-reader";
import { encodeTarHeader, TAR_END, tarPadding } from "../src/layers/tar-writer";
import { rawTar, type RawEntry } from "./helpers/raw-tar";

const scratch = mkdtempSync("/tmp/bunker-archive-test-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Outside the container: must never be read, and nothing may appear here. */
const hostDir = join(scratch, "host");
mkdirSync(hostDir);
writeFileSync(join(hostDir, "secret"), "HOST SECRET");

const root = join(scratch, "ctr", "rootfs");
const fs: ContainerFs = { root, container: "c1" };
mkdirSync(join(root, "etc"), { recursive: true });
writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
mkdirSync(join(root, "dir/sub"), { recursive: true });
writeFileSync(join(root, "dir/a"), "a");
writeFileSync(join(root, "dir/sub/b"), "b");
symlinkSync("etc/passwd", join(root, "link-file"));
symlinkSync("/etc", join(root, "abs-link"));
symlinkSync("/", join(root, "evil-root"));
symlinkSync("../../../../../../../..", join(root, "evil-up"));
symlinkSync("evil-up/etc", join(root, "evil-chain"));
symlinkSync(hostDir, join(root, "host-link"));
symlinkSync("/nonexistent/target", join(root, "dangling"));

const stream = (data: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });

async function entries(tar: ReadableStream<Uint8Array>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of readTar(tar)) {
    const chunks: Uint8Array[] = [];
    for await (const piece of entry.body) chunks.push(piece.slice());
    out[entry.header.name] = entry.header.type === "file" ? Buffer.concat(chunks).toString() : entry.header.type === "symlink" ? `-> ${entry.header.linkname}` : entry.header.type;
  }
  return out;
}

const DIR = 2 ** 31;
const SYMLINK = 2 ** 27;

describe("statPath", () => {
  test("files, directories and symlinks in Go's FileMode bits, symlinks resolved inside the root", () => {
    const passwd = statPath(fs, "/etc/passwd");
    expect(passwd).toMatchObject({ name: "passwd", size: 26, mode: 0o644, linkTarget: "" });
    expect(passwd.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(statPath(fs, "/dir").mode).toBe(DIR + 0o755);
    expect(statPath(fs, "/link-file")).toMatchObject({ name: "link-file", mode: SYMLINK + 0o777, linkTarget: "/etc/passwd" });
    expect(statPath(fs, "/abs-link").linkTarget).toBe("/etc");
    expect(statPath(fs, "/evil-root").linkTarget).toBe("/");
    expect(statPath(fs, "/evil-up").linkTarget).toBe("/");
    expect(statPath(fs, "/evil-chain").linkTarget).toBe("/etc");
    expect(statPath(fs, "/dangling").linkTarget).toBe("/nonexistent/target");
    // A trailing slash follows the final symlink: the directory it leads to, inside the root.
    expect(statPath(fs, "/abs-link/")).toMatchObject({ name: "abs-link", mode: DIR + 0o755 });
    expect(statPath(fs, "/")).toMatchObject({ name: "/", mode: DIR + (lstatSync(root).mode & 0o777) });
    const header = JSON.parse(Buffer.from(encodePathStat(passwd), "base64").toString());
    expect(header).toEqual(passwd);
  });

  test("missing paths are 404 with docker's message; a file used as a directory is 400", () => {
    expect(() => statPath(fs, "/missing")).toThrow(new NotFoundError("Could not find the file /missing in container c1"));
    expect(() => statPath(fs, "/etc/passwd/x")).toThrow(InvalidParameterError);
  });

  test("symlinks out of the root lead back into it", () => {
    // host-link names the host directory by its absolute path: inside the root that path does not exist.
    expect(() => statPath(fs, "/host-link/secret")).toThrow(NotFoundError);
    expect(() => statPath(fs, "/evil-up/secret")).toThrow(NotFoundError);
    expect(statPath(fs, "/evil-up/etc/passwd").size).toBe(26);
  });
});

describe("archivePath", () => {
  test("a file is one entry named after it; a directory is named after itself; dir/. gives its contents", async () => {
    expect(await entries(archivePath(fs, "/etc/passwd").tar)).toEqual({ passwd: "root:x:0:0::/root:/bin/sh\n" });
    expect(await entries(archivePath(fs, "/dir").tar)).toEqual({ "dir/": "directory", "dir/a": "a", "dir/sub/": "directory", "dir/sub/b": "b" });
    expect(await entries(archivePath(fs, "/dir/.").tar)).toEqual({ "./": "directory", "./a": "a", "./sub/": "directory", "./sub/b": "b" });
    expect(await entries(archivePath(fs, "/link-file").tar)).toEqual({ "link-file": "-> etc/passwd" });
    const { stat } = archivePath(fs, "/dir");
    expect(stat.name).toBe("dir");
  });

  test("following hostile symlinks reads the container's files, never the host's", async () => {
    const viaRoot = await entries(archivePath(fs, "/evil-root/").tar);
    expect(viaRoot["evil-root/etc/passwd"]).toBe("root:x:0:0::/root:/bin/sh\n");
    expect(Object.keys(viaRoot).some((name) => name.includes("host/secret") && viaRoot[name] === "HOST SECRET")).toBe(false);
    expect(await entries(archivePath(fs, "/evil-up/etc/passwd").tar)).toEqual({ passwd: "root:x:0:0::/root:/bin/sh\n" });
    expect(await entries(archivePath(fs, "/evil-chain/").tar)).toMatchObject({ "evil-chain/passwd": "root:x:0:0::/root:/bin/sh\n" });
    expect(() => archivePath(fs, "/host-link/secret")).toThrow(NotFoundError);
  });

  test("the root is archived as docker does: / then /etc, ...", async () => {
    const names = Object.keys(await entries(archivePath(fs, "/").tar));
    expect(names[0]).toBe("/");
    expect(names).toContain("/etc/passwd");
    expect(names).toContain("/evil-root");
  });
});

describe("extractArchive", () => {
  const tarOf = (list: RawEntry[]) => stream(rawTar(list));
  const opts = { noOverwriteDirNonDir: true, copyUIDGID: false };

  test("files land under the extraction point, owned by root unless copyUIDGID", async () => {
    await extractArchive(fs, "/dir", tarOf([{ name: "x/", type: "dir", uid: 1000, gid: 1000 }, { name: "x/y", body: "data", uid: 1000, gid: 1000, mode: 0o640 }]), opts);
    expect(readFileSync(join(root, "dir/x/y"), "utf8")).toBe("data");
    expect(lstatSync(join(root, "dir/x/y"))).toMatchObject({ uid: 0, gid: 0 });
    expect(lstatSync(join(root, "dir/x/y")).mode & 0o7777).toBe(0o640);
    await extractArchive(fs, "/dir", tarOf([{ name: "owned", body: "o", uid: 1000, gid: 1001 }]), { ...opts, copyUIDGID: true });
    expect(lstatSync(join(root, "dir/owned"))).toMatchObject({ uid: 1000, gid: 1001 });
  });

  test("an extraction point behind symlinks is followed inside the root", async () => {
    await extractArchive(fs, "/evil-root", tarOf([{ name: "dropped-at-root", body: "r" }]), opts);
    expect(readFileSync(join(root, "dropped-at-root"), "utf8")).toBe("r");
    expect(existsSync("/dropped-at-root")).toBe(false);
    await extractArchive(fs, "/evil-up/dir", tarOf([{ name: "via-up", body: "u" }]), opts);
    expect(readFileSync(join(root, "dir/via-up"), "utf8")).toBe("u");
  });

  test("entries cannot climb out, and symlinks in the archive or the tree keep writes inside", async () => {
    await expect(extractArchive(fs, "/dir", tarOf([{ name: "../../../../escape", body: "x" }]), opts)).rejects.toThrow(InvalidParameterError);
    await expect(extractArchive(fs, "/dir", tarOf([{ name: "h", type: "hardlink", linkname: "../../../../../host/secret" }]), opts)).rejects.toThrow(InvalidParameterError);
    // A symlink the archive creates, then a file through it: the link leads nowhere inside the root, so it fails.
    await expect(extractArchive(fs, "/", tarOf([{ name: "s", type: "symlink", linkname: hostDir }, { name: "s/pwned", body: "p" }]), opts)).rejects.toThrow(InvalidParameterError);
    expect(readdirSync(hostDir)).toEqual(["secret"]);
    // One that leads somewhere inside: followed there.
    await extractArchive(fs, "/", tarOf([{ name: "s2", type: "symlink", linkname: "/../../etc" }, { name: "s2/pwned", body: "p" }]), opts);
    expect(readFileSync(join(root, "etc/pwned"), "utf8")).toBe("p");
    // Through symlinks already in the tree.
    await expect(extractArchive(fs, "/", tarOf([{ name: "host-link/pwned2", body: "p" }]), opts)).rejects.toThrow(InvalidParameterError);
    await extractArchive(fs, "/", tarOf([{ name: "evil-up/pwned3", body: "p" }]), opts);
    expect(readdirSync(hostDir)).toEqual(["secret"]);
    expect(existsSync(join(root, "pwned3"))).toBe(true);
    expect(existsSync("/pwned3")).toBe(false);
  });

  test("noOverwriteDirNonDir, non-directory and missing extraction points", async () => {
    await expect(extractArchive(fs, "/", tarOf([{ name: "dir", body: "not a dir" }]), opts)).rejects.toThrow('cannot overwrite directory "/dir" with non-directory "/"');
    await expect(extractArchive(fs, "/etc", tarOf([{ name: "passwd/", type: "dir" }]), opts)).rejects.toThrow('cannot overwrite non-directory "/etc/passwd" with directory "/etc"');
    await expect(extractArchive(fs, "/etc/passwd", tarOf([{ name: "x", body: "" }]), opts)).rejects.toThrow(new InvalidParameterError("extraction point is not a directory"));
    await expect(extractArchive(fs, "/nowhere", tarOf([{ name: "x", body: "" }]), opts)).rejects.toThrow(new NotFoundError("Could not find the file /nowhere in container c1"));
    // Without the flag a file replaces a directory, whose contents go without following anything inside.
    mkdirSync(join(root, "replace-me/sub"), { recursive: true });
    symlinkSync(hostDir, join(root, "replace-me/sub/to-host"));
    await extractArchive(fs, "/", tarOf([{ name: "replace-me", body: "file now" }]), { ...opts, noOverwriteDirNonDir: false });
    expect(readFileSync(join(root, "replace-me"), "utf8")).toBe("file now");
    expect(readFileSync(join(hostDir, "secret"), "utf8")).toBe("HOST SECRET");
  });
});

test("a component swapped for a symlink to the host during copies never escapes the root", async () => {
  mkdirSync(join(root, "race"));
  writeFileSync(join(root, "race/f"), "inside");
  chownSync(join(root, "race"), 0, 0);
  symlinkSync(hostDir, join(root, "race.link"));
  // Exchange race/ and a symlink to the host directory, atomically and as fast as the kernel goes.
  const swapper = Bun.spawn([process.execPath, join(import.meta.dir, "helpers/swap-loop.ts"), join(root, "race"), join(root, "race.link")], { stdout: "ignore", stderr: "inherit" });
  let reads = 0;
  let writes = 0;
  let failures = 0;
  const read: string[] = [];
  // Three seconds of racing, and on until each kind of attempt happened at least once (the swapper may take a
  // while to start on a loaded machine): a race that never ran proves nothing.
  const raced = () => reads > 0 && writes > 0 && failures > 0;
  try {
    const minimum = Date.now() + 3000;
    const deadline = Date.now() + 60_000;
    while (Date.now() < minimum || (!raced() && Date.now() < deadline)) {
      // Failing is fine while the tree is being torn around; reading or writing outside the root is not.
      try {
        read.push(Object.values(await entries(archivePath(fs, "/race/f").tar)).join(""));
        read.push(Object.values(await entries(archivePath(fs, "/race").tar)).join(""));
        reads++;
      } catch {
        failures++;
      }
      try {
        await extractArchive(fs, "/race", stream(rawTar([{ name: "pwn", body: "pwn" }])), { noOverwriteDirNonDir: true, copyUIDGID: false });
        writes++;
      } catch {
        failures++;
      }
      expect(readdirSync(hostDir)).toEqual(["secret"]);
    }
  } finally {
    swapper.kill("SIGKILL");
    await swapper.exited;
  }
  expect(read.filter((text) => text.includes("HOST SECRET"))).toEqual([]);
  expect(reads).toBeGreaterThan(0);
  // Some attempts met the symlink: the race really ran.
  expect(failures).toBeGreaterThan(0);
  expect(writes).toBeGreaterThan(0);
  expect(readdirSync(hostDir)).toEqual(["secret"]);
});

describe("tar headers", () => {
  const header = (over: Partial<TarHeader>): TarHeader => ({
    name: "f",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtimeNs: 1_700_000_000_000_000_000n,
    atimeNs: 1_700_000_000_000_000_000n,
    linkname: "",
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    ...over,
  });

  test("what ustar cannot hold goes into PAX records, and both our reader and GNU tar read it back", async () => {
    const longDir = `${"d".repeat(120)}/${"e".repeat(120)}`;
    const headers = [
      header({ name: `${longDir}/`, type: "directory", mode: 0o755 }),
      header({ name: `${longDir}/${"f".repeat(150)}`, size: 3, uid: 3_000_000, gid: 4_000_000 }),
      header({ name: "ünïcödé-名前", size: 0, xattrs: new Map([["user.bin", new Uint8Array([0, 1, 2, 255])], ["security.capability", new Uint8Array([1, 0, 0, 2])]]) }),
      header({ name: "long-link", type: "symlink", mode: 0o777, linkname: `/${"t".repeat(200)}` }),
      header({ name: "null", type: "char", mode: 0o666, devmajor: 1, devminor: 3 }),
      header({ name: "old", mtimeNs: -5_000_000_000n }),
    ];
    const parts: Uint8Array[] = [];
    for (const h of headers) {
      parts.push(encodeTarHeader(h));
      if (h.size) parts.push(new TextEncoder().encode("abc"), tarPadding(h.size));
    }
    parts.push(TAR_END);
    const archive = Buffer.concat(parts);
    const read: TarHeader[] = [];
    for await (const entry of readTar(stream(archive))) read.push(entry.header);
    expect(read.map((h) => [h.name, h.type, h.uid, h.gid, h.linkname, h.devmajor, h.devminor, Number(h.mtimeNs / 1_000_000_000n)])).toEqual(
      headers.map((h) => [h.name, h.type, h.uid, h.gid, h.linkname, h.devmajor, h.devminor, Number(h.mtimeNs / 1_000_000_000n)]),
    );
    expect([...read[2]!.xattrs]).toEqual([...headers[2]!.xattrs]);
    const listed = Bun.spawnSync(["tar", "--numeric-owner", "-tvf", "-"], { stdin: archive });
    expect(listed.exitCode).toBe(0);
    const lines = listed.stdout.toString().trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/).slice(5).join(" "))).toEqual([
      `${longDir}/`,
      `${longDir}/${"f".repeat(150)}`,
      "ünïcödé-名前",
      `long-link -> /${"t".repeat(200)}`,
      "null",
      "old",
    ]);
    expect(lines[1]).toContain("3000000/4000000");
  });
});
