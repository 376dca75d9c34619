/**
 * A container's files through the real docker CLI against a real daemon: bind mounts, named/anonymous volumes with
 * copy-up, tmpfs, --volumes-from; `docker cp` both ways (running and stopped, into volumes, hostile symlinks and a
 * racing symlink swap); `docker diff`, `commit`, `export | import`; healthchecks; `system df` / `system prune`; and the
 * start-up reconciliation of the data root. Prints the `docker diff` / `docker commit` time for 10,000 changed files.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { snapshotDirName } from "../drivers/graph/keys";
import { bunker, type RunResult } from "./helpers/cli";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually, settle } from "./helpers/wait";

setDefaultTimeout(120_000);

let env: ContainerEnv;
let bb: string;
const scratch = mkdtempSync("/tmp/bunker-files-test-");

beforeAll(async () => {
  env = await startContainerEnv();
  bb = env.busybox;
}, 120_000);

afterAll(async () => {
  await stopContainerEnv(env);
  rmSync(scratch, { recursive: true, force: true });
});

async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await env.docker(args, stdin);
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.exitCode}): ${r.stderr}`);
  return r.stdout;
}

async function fails(args: string[]): Promise<RunResult> {
  const r = await env.docker(args);
  expect(r.exitCode).not.toBe(0);
  return r;
}

async function inspect<T>(ref: string, template: string): Promise<T> {
  return JSON.parse(await ok(["inspect", "-f", `{{json ${template}}}`, ref])) as T;
}

function dir(name: string): string {
  const path = join(scratch, name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** `du -sb`: bytes under `path` as the filesystem holds them (0 when it is gone). */
function diskBytes(path: string): number {
  if (!existsSync(path)) return 0;
  return Number(Bun.spawnSync(["du", "-sb", path]).stdout.toString().split("\t")[0]);
}

interface MountPoint {
  Type: string;
  Name?: string;
  Source: string;
  Destination: string;
  RW: boolean;
}

describe("mounts", () => {
  test("bind mount: read-write, a missing host directory is created, :ro is enforced", async () => {
    const host = join(scratch, "bind-new/sub");
    expect(await ok(["run", "--rm", "-v", `${host}:/b`, bb, "sh", "-c", "echo written > /b/f; cat /b/f"])).toBe("written\n");
    expect(readFileSync(join(host, "f"), "utf8")).toBe("written\n");
    const r = await fails(["run", "--rm", "-v", `${host}:/b:ro`, bb, "sh", "-c", "echo more > /b/g"]);
    expect(r.stderr).toContain("Read-only file system");
    expect(existsSync(join(host, "g"))).toBe(false);
    expect(await ok(["run", "--rm", "--mount", `type=bind,source=${host},target=/m,readonly`, bb, "cat", "/m/f"])).toBe("written\n");
    await fails(["run", "--rm", "--mount", `type=bind,source=${host},target=/m,readonly`, bb, "touch", "/m/x"]);
    const missing = await fails(["run", "--rm", "--mount", `type=bind,source=${join(scratch, "nope")},target=/m`, bb, "true"]);
    expect(missing.stderr).toContain("bind source path does not exist");
  });

  test("named volume: data persists across containers, inspect shows it, in use it cannot be removed", async () => {
    await ok(["run", "--name", "vol-writer", "-v", "persist:/data", bb, "sh", "-c", "echo kept > /data/file"]);
    expect(await ok(["run", "--rm", "-v", "persist:/other", bb, "cat", "/other/file"])).toBe("kept\n");
    const mounts = await inspect<MountPoint[]>("vol-writer", ".Mounts");
    expect(mounts).toEqual([expect.objectContaining({ Type: "volume", Name: "persist", Destination: "/data", RW: true })]);
    expect(readFileSync(join(mounts[0]!.Source, "file"), "utf8")).toBe("kept\n");
    expect((await ok(["ps", "-a", "-q", "--no-trunc", "--filter", "volume=persist"])).trim()).toBe((await inspect<string>("vol-writer", ".Id")));
    const busy = await fails(["volume", "rm", "persist"]);
    expect(busy.stderr).toContain("volume is in use");
    await ok(["rm", "-v", "vol-writer"]);
    // A named volume outlives `rm -v`; unused now, it can go.
    await ok(["volume", "rm", "persist"]);
  });

  test("copy-up: an empty volume gets the image's content at its target, unless nocopy", async () => {
    expect(await ok(["run", "--rm", "-v", "etc-copy:/etc", bb, "cat", "/etc/passwd"])).toContain("root:x:0:0");
    expect(await ok(["run", "--rm", "-v", "etc-copy:/mnt", bb, "ls", "/mnt"])).toContain("passwd");
    expect(await ok(["run", "--rm", "-v", "etc-nocopy:/etc:nocopy", bb, "ls", "-A", "/etc"])).not.toContain("passwd");
    expect(await ok(["run", "--rm", "--mount", "type=volume,source=etc-nocopy2,target=/etc,volume-nocopy", bb, "ls", "-A", "/etc"])).not.toContain("passwd");
    // Not empty any more: a volume is copied into once.
    await ok(["run", "--rm", "-v", "etc-copy:/etc", bb, "rm", "/etc/group"]);
    expect(await ok(["run", "--rm", "-v", "etc-copy:/etc", bb, "ls", "/etc"])).not.toContain("group");
    await ok(["volume", "rm", "etc-copy", "etc-nocopy", "etc-nocopy2"]);
  });

  test("anonymous volumes (-v /path and the image's VOLUME) are removed by rm -v, kept by rm", async () => {
    await ok(["run", "--name", "anon1", "-v", "/scratch", bb, "touch", "/scratch/x"]);
    const [mount] = await inspect<MountPoint[]>("anon1", ".Mounts");
    expect(mount).toMatchObject({ Type: "volume", Destination: "/scratch" });
    expect(mount!.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(await ok(["volume", "ls", "-q"])).toContain(mount!.Name!);
    await ok(["rm", "-v", "anon1"]);
    expect(await ok(["volume", "ls", "-q"])).not.toContain(mount!.Name!);

    await ok(["run", "--name", "anon2", "-v", "/scratch", bb, "true"]);
    const [kept] = await inspect<MountPoint[]>("anon2", ".Mounts");
    await ok(["rm", "anon2"]);
    expect(await ok(["volume", "ls", "-q"])).toContain(kept!.Name!);
    await ok(["volume", "rm", kept!.Name!]);

    // An image with VOLUME /srv/data whose content is copied up into the anonymous volume.
    await ok(["run", "--name", "vol-src", bb, "sh", "-c", "mkdir -p /srv/data && echo from-image > /srv/data/seed"]);
    await ok(["commit", "-c", "VOLUME /srv/data", "vol-src", "with-volume:1"]);
    await ok(["rm", "vol-src"]);
    await ok(["run", "--name", "anon3", "with-volume:1", "cat", "/srv/data/seed"]);
    expect(await ok(["logs", "anon3"])).toBe("from-image\n");
    const [fromImage] = await inspect<MountPoint[]>("anon3", ".Mounts");
    expect(fromImage).toMatchObject({ Type: "volume", Destination: "/srv/data" });
    await ok(["rm", "-v", "anon3"]);
    expect(await ok(["volume", "ls", "-q"])).not.toContain(fromImage!.Name!);
    // `run --rm` removes anonymous volumes as docker does.
    const before = (await ok(["volume", "ls", "-q"])).trim();
    await ok(["run", "--rm", "-v", "/gone", bb, "true"]);
    await eventually(async () => (await ok(["volume", "ls", "-q"])).trim() === before, "the --rm container's volume to go");
    await ok(["rmi", "with-volume:1"]);
  });

  test("tmpfs: size limit and options; --mount type=tmpfs", async () => {
    const r = await env.docker(["run", "--rm", "--tmpfs", "/t:size=1m", bb, "sh", "-c", "dd if=/dev/zero of=/t/x bs=1k count=2048; ls -l /t/x"]);
    expect(r.stderr).toContain("No space left on device");
    expect(r.stdout).toMatch(/\s1048576\s/);
    expect(await ok(["run", "--rm", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m,tmpfs-mode=1770", bb, "sh", "-c", "stat -c %a /m; df -k /m | tail -1"])).toMatch(/^1770\n\S+\s+2048\s/);
  });

  test("--volumes-from shares another container's volumes and binds (read-only with :ro)", async () => {
    const host = dir("shared-bind");
    await ok(["create", "--name", "donor", "-v", "donated:/data", "-v", `${host}:/hostdir`, bb, "true"]);
    await ok(["run", "--rm", "-v", "donated:/data", bb, "sh", "-c", "echo shared > /data/f"]);
    expect(await ok(["run", "--rm", "--volumes-from", "donor", bb, "sh", "-c", "cat /data/f; echo via-bind > /hostdir/g"])).toBe("shared\n");
    expect(readFileSync(join(host, "g"), "utf8")).toBe("via-bind\n");
    await fails(["run", "--rm", "--volumes-from", "donor:ro", bb, "touch", "/data/nope"]);
    await ok(["rm", "donor"]);
    await ok(["volume", "rm", "donated"]);
  });
});

describe("docker cp", () => {
  const local = () => {
    const src = dir("cp-src");
    writeFileSync(join(src, "file.txt"), "local file\n");
    mkdirSync(join(src, "tree/sub"), { recursive: true });
    writeFileSync(join(src, "tree/top"), "top\n");
    writeFileSync(join(src, "tree/sub/deep"), "deep\n");
    return src;
  };

  test("files and directories both ways, into a running and a stopped container, and into a volume", async () => {
    const src = local();
    await ok(["run", "-d", "--name", "cp1", "-v", "cpvol:/vol", bb, "sleep", "600"]);
    await ok(["cp", join(src, "file.txt"), "cp1:/copied.txt"]);
    await ok(["cp", join(src, "tree"), "cp1:/tmp/"]);
    await ok(["cp", join(src, "file.txt"), "cp1:/vol/"]);
    expect(await ok(["exec", "cp1", "sh", "-c", "cat /copied.txt /tmp/tree/top /tmp/tree/sub/deep /vol/file.txt"])).toBe("local file\ntop\ndeep\nlocal file\n");
    const [volume] = await inspect<MountPoint[]>("cp1", ".Mounts");
    expect(readFileSync(join(volume!.Source, "file.txt"), "utf8")).toBe("local file\n");

    const out = dir("cp-out");
    await ok(["exec", "cp1", "sh", "-c", "mkdir -p /made/inner && echo made > /made/inner/x && echo vol > /vol/v"]);
    await ok(["cp", "cp1:/made", join(out, "made-copy")]);
    expect(readFileSync(join(out, "made-copy/inner/x"), "utf8")).toBe("made\n");
    await ok(["cp", "cp1:/made/.", join(out, "contents")]);
    expect(readdirSync(join(out, "contents"))).toEqual(["inner"]);
    await ok(["cp", "cp1:/vol/v", join(out, "from-volume")]);
    expect(readFileSync(join(out, "from-volume"), "utf8")).toBe("vol\n");
    await ok(["cp", "cp1:/vol", join(out, "volume-dir")]);
    expect(readdirSync(join(out, "volume-dir")).sort()).toEqual(["file.txt", "v"]);
    await ok(["cp", "cp1:/vol", out]);
    expect(readdirSync(join(out, "vol")).sort()).toEqual(["file.txt", "v"]);
    // /etc/hostname is the file the container sees (bind-mounted from the container's directory).
    await ok(["cp", "cp1:/etc/hostname", join(out, "hostname")]);
    expect(readFileSync(join(out, "hostname"), "utf8")).toBe(`${(await inspect<string>("cp1", ".Id")).slice(0, 12)}\n`);
    const missing = await fails(["cp", "cp1:/does/not/exist", out]);
    expect(missing.stderr).toContain("Could not find the file /does/not/exist in container cp1");

    await ok(["stop", "-t", "0", "cp1"]);
    // No copy kept the root filesystem busy: it was unmounted at the stop.
    const cp1Rootfs = join(env.daemon.dataRoot, "containers", await inspect<string>("cp1", ".Id"), "rootfs");
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(cp1Rootfs);
    expect(env.daemon.logs()).not.toContain("EBUSY");
    await ok(["cp", join(src, "file.txt"), "cp1:/while-stopped"]);
    await ok(["cp", join(src, "tree"), "cp1:/stopped-tree"]);
    await ok(["cp", "cp1:/copied.txt", join(out, "from-stopped")]);
    expect(readFileSync(join(out, "from-stopped"), "utf8")).toBe("local file\n");
    await ok(["cp", "cp1:/vol/file.txt", join(out, "volume-from-stopped")]);
    // The copies into the stopped container mounted its snapshot only for their time.
    expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(cp1Rootfs);
    await ok(["start", "cp1"]);
    expect(await ok(["exec", "cp1", "sh", "-c", "cat /while-stopped /stopped-tree/sub/deep"])).toBe("local file\ndeep\n");
    await ok(["rm", "-f", "-v", "cp1"]);
    await ok(["volume", "rm", "cpvol"]);
  });

  test("read-only root filesystem refuses copies in (403), a read-write volume in it does not", async () => {
    const src = local();
    await ok(["run", "-d", "--name", "cp-ro", "--read-only", "-v", "rwvol:/rw", bb, "sleep", "600"]);
    const refused = await fails(["cp", join(src, "file.txt"), "cp-ro:/x"]);
    expect(refused.stderr).toContain("read-only");
    await ok(["cp", join(src, "file.txt"), "cp-ro:/rw/"]);
    expect(await ok(["exec", "cp-ro", "cat", "/rw/file.txt"])).toBe("local file\n");
    await ok(["rm", "-f", "cp-ro"]);
    await ok(["volume", "rm", "rwvol"]);
  });

  test("symlinks to / and .. inside the container never reach the host, either way", async () => {
    const src = local();
    const secret = join(scratch, "host-secret");
    writeFileSync(secret, "host only\n");
    await ok(["run", "-d", "--name", "cp-sym", bb, "sleep", "600"]);
    await ok(["exec", "cp-sym", "sh", "-c", `mkdir -p /jail/a && ln -s / /jail/root && ln -s ../../../../.. /jail/a/up && ln -s ${scratch} /jail/abs && echo inside > /tmp/marker`]);
    // In: through `/` and `..` chains the copies land in the container's own /tmp.
    const escape = join(scratch, "escaped");
    await ok(["cp", join(src, "file.txt"), `cp-sym:/jail/root${escape}`]).catch(() => "");
    await ok(["cp", join(src, "file.txt"), "cp-sym:/jail/a/up/tmp/through-dotdot"]);
    await env.docker(["cp", join(src, "file.txt"), "cp-sym:/jail/abs/escaped-abs"]);
    expect(existsSync(escape)).toBe(false);
    expect(existsSync(join(scratch, "escaped-abs"))).toBe(false);
    expect(await ok(["exec", "cp-sym", "cat", "/tmp/through-dotdot"])).toBe("local file\n");
    // Out: the container's /tmp/marker, never the host's files.
    const out = dir("sym-out");
    await ok(["cp", "cp-sym:/jail/a/up/tmp/marker", join(out, "m1")]);
    expect(readFileSync(join(out, "m1"), "utf8")).toBe("inside\n");
    const abs = await fails(["cp", "cp-sym:/jail/abs/host-secret", join(out, "m2")]);
    expect(abs.stderr).toContain("Could not find the file");
    expect(existsSync(join(out, "m2"))).toBe(false);
    // The link itself is copied (not followed) without -L.
    await ok(["cp", "cp-sym:/jail/root", join(out, "link")]);
    expect(readdirSync(out)).toContain("link");
    await ok(["rm", "-f", "cp-sym"]);
  });

  test("a path component swapped for a symlink to / during copies never escapes", async () => {
    const src = local();
    await ok(["run", "-d", "--name", "cp-race", bb, "sleep", "600"]);
    await ok(["exec", "cp-race", "sh", "-c", "mkdir -p /race/etc && echo inside > /race/etc/hostname && ln -s / /race.link"]);
    const id = await inspect<string>("cp-race", ".Id");
    const rootfs = join(env.daemon.dataRoot, "containers", id, "rootfs");
    const target = join(scratch, "race-target");
    mkdirSync(target);
    const swapper = Bun.spawn([process.execPath, join(import.meta.dir, "helpers/swap-loop.ts"), join(rootfs, "race"), join(rootfs, "race.link")], { stdout: "ignore", stderr: "inherit" });
    try {
      const out = dir("race-out");
      for (let i = 0; i < 15; i++) {
        await env.docker(["cp", join(src, "file.txt"), `cp-race:/race${target}/in-${i}`]);
        const r = await env.docker(["cp", "cp-race:/race/etc/hostname", join(out, `out-${i}`)]);
        if (r.exitCode === 0) expect(readFileSync(join(out, `out-${i}`), "utf8")).not.toBe(readFileSync("/etc/hostname", "utf8"));
      }
    } finally {
      swapper.kill("SIGKILL");
      await swapper.exited;
    }
    expect(readdirSync(target)).toEqual([]);
    await ok(["rm", "-f", "cp-race"]);
  }, 120_000);
});

describe("diff, commit, export, import", () => {
  test("docker diff lists A, C and D", async () => {
    await ok(["run", "--name", "differ", bb, "sh", "-c", "echo new > /added; echo changed >> /etc/passwd; rm /bin/ls; mkdir -p /newdir/sub && touch /newdir/sub/f"]);
    const lines = (await ok(["diff", "differ"])).trim().split("\n");
    for (const line of ["A /added", "C /etc", "C /etc/passwd", "C /bin", "D /bin/ls", "A /newdir", "A /newdir/sub", "A /newdir/sub/f"]) expect(lines).toContain(line);
    expect(lines.some((l) => l.includes("/etc/hostname"))).toBe(false);
    // Our CLI prints the same.
    const own = await bunker(env.daemon.env, ["diff", "differ"]);
    expect(own.stdout.trim().split("\n")).toEqual(lines);
  });

  test("docker diff leaves out /dev, /proc and /sys created as mount points for an image without them", async () => {
    const out = dir("bare");
    const root = join(out, "root");
    mkdirSync(join(root, "bin"), { recursive: true });
    cpSync("/bin/busybox", join(root, "bin", "busybox"));
    expect(Bun.spawnSync(["tar", "-C", root, "-cf", join(out, "bare.tar"), "."]).exitCode).toBe(0);
    await ok(["import", join(out, "bare.tar"), "bare:1"]);
    await ok(["run", "--name", "bare", "bare:1", "/bin/busybox", "true"]);
    expect(await ok(["diff", "bare"])).toBe("");
    await ok(["rm", "bare"]);
    await ok(["rmi", "bare:1"]);
  });

  test("commit: run the new image and see the change; --change CMD; author and message", async () => {
    const id = (await ok(["commit", "-a", "tester", "-m", "a message", "-c", 'CMD ["cat", "/added"]', "differ", "committed:v1"])).trim();
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ok(["run", "--rm", "committed:v1"])).toBe("new\n");
    expect(await ok(["run", "--rm", "committed:v1", "sh", "-c", "ls /bin/ls 2>&1; tail -1 /etc/passwd"])).toContain("changed");
    const image = JSON.parse(await ok(["image", "inspect", "committed:v1"]))[0];
    expect(image).toMatchObject({ Author: "tester", Comment: "a message", Config: { Cmd: ["cat", "/added"] } });
    expect(image.Parent).toBe(await inspect<string>("differ", ".Image"));
    // Committing a running container pauses it meanwhile and leaves it running.
    await ok(["run", "-d", "--name", "live", bb, "sh", "-c", "echo live > /live; sleep 600"]);
    await eventually(async () => (await env.docker(["exec", "live", "cat", "/live"])).stdout === "live\n", "the live file");
    const own = await bunker(env.daemon.env, ["commit", "live", "committed:live"]);
    expect(own.exitCode).toBe(0);
    expect(await inspect<string>("live", ".State.Status")).toBe("running");
    expect(await ok(["run", "--rm", "committed:live", "cat", "/live"])).toBe("live\n");
    await ok(["rm", "-f", "live"]);
    await ok(["rmi", "committed:live"]);
  });

  test("export | import round trip", async () => {
    const out = dir("export");
    await ok(["export", "-o", join(out, "differ.tar"), "differ"]);
    expect(statSync(join(out, "differ.tar")).size).toBeGreaterThan(1024 * 1024);
    await ok(["import", "-c", 'CMD ["cat", "/added"]', join(out, "differ.tar"), "imported:v1"]);
    expect(await ok(["run", "--rm", "imported:v1"])).toBe("new\n");
    expect(await ok(["run", "--rm", "imported:v1", "sh", "-c", "test -e /bin/ls || echo gone; cat /newdir/sub/f; tail -1 /etc/passwd"])).toBe("gone\nchanged\n");
    // Our CLI exports the same tree.
    const own = await bunker(env.daemon.env, ["export", "-o", join(out, "own.tar"), "differ"]);
    expect(own.exitCode).toBe(0);
    expect(statSync(join(out, "own.tar")).size).toBe(statSync(join(out, "differ.tar")).size);
    await ok(["rm", "differ"]);
    await ok(["rmi", "imported:v1", "committed:v1"]);
  });

  test("our CLI: cp both ways", async () => {
    const src = dir("own-cp");
    writeFileSync(join(src, "f"), "own\n");
    await ok(["run", "-d", "--name", "own-cp", bb, "sleep", "600"]);
    const put = await bunker(env.daemon.env, ["cp", join(src, "f"), "own-cp:/renamed"]);
    expect(put.exitCode).toBe(0);
    expect(await ok(["exec", "own-cp", "cat", "/renamed"])).toBe("own\n");
    const get = await bunker(env.daemon.env, ["cp", "own-cp:/etc", join(src, "etc-copy")]);
    expect(get.exitCode).toBe(0);
    expect(readFileSync(join(src, "etc-copy/passwd"), "utf8")).toContain("root:x:0:0");
    await ok(["rm", "-f", "own-cp"]);
  });

  test("our CLI: run with -v, --mount, --tmpfs, --volumes-from and --health-*; system df", async () => {
    const host = dir("own-run");
    const own = (args: string[]) => bunker(env.daemon.env, args);
    let r = await own(["run", "--name", "own-vols", "-v", `${host}:/h`, "-v", "own-named:/n", "-v", "/anon", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "--tmpfs", "/t2:size=2m", bb, "sh", "-c", "echo x > /h/f; echo y > /n/f; df -k /t /t2 | tail -2"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/\s1024\s[\s\S]*\s2048\s/);
    expect(readFileSync(join(host, "f"), "utf8")).toBe("x\n");
    r = await own(["run", "--rm", "--volumes-from", "own-vols:ro", bb, "sh", "-c", "cat /n/f; touch /n/g 2>&1 || true"]);
    expect(r.stdout).toContain("y\n");
    expect(r.stdout).toContain("Read-only file system");
    r = await own(["run", "-d", "--name", "own-health", "--health-cmd", "true", "--health-interval", "300ms", "--health-retries", "1", "--health-timeout", "5s", "--health-start-period", "1s", "--health-start-interval", "200ms", bb, "sleep", "600"]);
    expect(r.exitCode).toBe(0);
    expect(await inspect<{ Interval: number; Timeout: number; StartPeriod: number; Retries: number }>("own-health", ".Config.Healthcheck")).toEqual({ Test: ["CMD-SHELL", "true"], Interval: 300e6, Timeout: 5e9, StartPeriod: 1e9, StartInterval: 200e6, Retries: 1 } as never);
    await eventually(async () => (await inspect<{ Status: string }>("own-health", ".State.Health")).Status === "healthy", "healthy");
    r = await own(["system", "df"]);
    expect(r.stdout).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+\d+\s+\d+/);
    expect(r.stdout).toContain("Local Volumes");
    await ok(["rm", "-f", "-v", "own-vols", "own-health"]);
    await ok(["volume", "rm", "own-named"]);
  });

  test("docker diff and commit of 10,000 changed files (timed)", async () => {
    await ok(["run", "--name", "many", bb, "sh", "-c", "mkdir /many && cd /many && i=0; while [ $i -lt 100 ]; do mkdir d$i; j=0; while [ $j -lt 100 ]; do echo $i.$j > d$i/f$j; j=$((j+1)); done; i=$((i+1)); done"], undefined);
    let start = performance.now();
    const diff = await ok(["diff", "many"]);
    const diffMs = performance.now() - start;
    expect(diff.trim().split("\n").filter((l) => l.startsWith("A /many")).length).toBe(10_000 + 100 + 1);
    start = performance.now();
    await ok(["commit", "many", "many:1"]);
    const commitMs = performance.now() - start;
    console.log(`docker diff of 10,000 changed files: ${diffMs.toFixed(0)} ms; docker commit: ${commitMs.toFixed(0)} ms`);
    expect(await ok(["run", "--rm", "many:1", "cat", "/many/d99/f99"])).toBe("99.99\n");
    await ok(["rm", "many"]);
    await ok(["rmi", "many:1"]);
  }, 180_000);
});

describe("healthchecks", () => {
  test("a passing check turns healthy, a failing one unhealthy; ps, inspect and events show it", async () => {
    const since = Math.floor(Date.now() / 1000);
    await ok(["run", "-d", "--name", "hc-good", "--health-cmd", "echo fine", "--health-interval", "500ms", "--health-retries", "2", bb, "sleep", "600"]);
    await ok(["run", "-d", "--name", "hc-bad", "--health-cmd", "echo broken; exit 1", "--health-interval", "500ms", "--health-retries", "2", bb, "sleep", "600"]);
    await ok(["run", "-d", "--name", "hc-slow", "--health-cmd", "true", "--health-interval", "1h", bb, "sleep", "600"]);
    expect(await inspect<{ Status: string }>("hc-slow", ".State.Health")).toMatchObject({ Status: "starting", FailingStreak: 0, Log: [] });
    expect(await ok(["ps", "--filter", "name=hc-slow", "--format", "{{.Status}}"])).toMatch(/\(health: starting\)/);
    const conflicting = await fails(["run", "-d", "--health-cmd", "true", "--no-healthcheck", bb, "true"]);
    expect(conflicting.stderr).toContain("--no-healthcheck conflicts with --health-* options");
    await eventually(async () => (await inspect<{ Status: string }>("hc-good", ".State.Health")).Status === "healthy", "healthy");
    await eventually(async () => (await inspect<{ Status: string }>("hc-bad", ".State.Health")).Status === "unhealthy", "unhealthy");
    const good = await inspect<{ FailingStreak: number; Log: { ExitCode: number; Output: string }[] }>("hc-good", ".State.Health");
    expect(good.FailingStreak).toBe(0);
    expect(good.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: "fine\n" });
    const bad = await inspect<{ FailingStreak: number; Log: { ExitCode: number; Output: string }[] }>("hc-bad", ".State.Health");
    expect(bad.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(bad.Log.at(-1)).toMatchObject({ ExitCode: 1, Output: "broken\n" });
    const ps = await ok(["ps", "--format", "{{.Names}} {{.Status}}"]);
    expect(ps).toMatch(/hc-good Up .* \(healthy\)/);
    expect(ps).toMatch(/hc-bad Up .* \(unhealthy\)/);
    expect((await ok(["ps", "-q", "--filter", "health=unhealthy"])).trim().split("\n")).toHaveLength(1);
    const events = await ok(["events", "--since", String(since), "--until", String(Math.ceil(Date.now() / 1000)), "--filter", "event=health_status", "--format", "{{.Actor.Attributes.name}} {{.Action}}"]);
    expect(events).toContain("hc-good health_status: healthy");
    expect(events).toContain("hc-bad health_status: unhealthy");
    // The probes are reaped: after many rounds nothing is left behind in the container. A probe may be running
    // at the moment `top` looks (on a loaded machine, at many moments in a row), but never more than one: look
    // at least five times, and until a look finds the container's own process alone.
    await Bun.sleep(2000);
    const looks: string[] = [];
    const processes = (top: string) => top.trim().split("\n").length - 1;
    await settle(async () => {
      looks.push(await ok(["top", "hc-good"]));
      return looks.length >= 5 && looks.some((top) => processes(top) === 1);
    });
    expect(Math.min(...looks.map(processes)), looks.join("\n")).toBe(1);
    expect(Math.max(...looks.map(processes)), looks.join("\n")).toBeLessThanOrEqual(2);
    // The image's HEALTHCHECK applies unless --no-healthcheck.
    await ok(["commit", "-c", "HEALTHCHECK CMD true", "hc-good", "with-health:1"]);
    await ok(["run", "-d", "--name", "hc-image", "--health-interval", "500ms", "with-health:1"]);
    await eventually(async () => (await inspect<{ Status: string } | null>("hc-image", ".State.Health"))?.Status === "healthy", "image healthcheck");
    await ok(["run", "-d", "--name", "hc-off", "--no-healthcheck", "with-health:1"]);
    expect(await inspect<unknown>("hc-off", ".State.Health")).toBeNull();
    // Stopping the container stops its checker: the status is kept, no more probes run.
    await ok(["stop", "-t", "0", "hc-good"]);
    const stopped = await inspect<{ Log: unknown[] }>("hc-good", ".State.Health");
    await Bun.sleep(1200);
    expect(await inspect<{ Log: unknown[] }>("hc-good", ".State.Health")).toEqual(stopped);
    await ok(["rm", "-f", "hc-good", "hc-bad", "hc-image", "hc-off", "hc-slow"]);
    await ok(["rmi", "with-health:1"]);
  }, 120_000);
});

describe("disk usage and pruning", () => {
  test("system df adds up with what is on disk; system prune -a --volumes frees it", async () => {
    // Whatever an earlier failing test left would change the figures.
    const leftovers = (await ok(["ps", "-aq"])).trim().split("\n").filter(Boolean);
    if (leftovers.length > 0) await ok(["rm", "-f", ...leftovers]);
    await ok(["run", "--name", "df-ctr", "-v", "/anon-df", "-v", "df-named:/named", bb, "sh", "-c", "dd if=/dev/zero of=/rw bs=1M count=3 2>/dev/null; dd if=/dev/zero of=/anon-df/a bs=1M count=2 2>/dev/null; dd if=/dev/zero of=/named/n bs=1M count=1 2>/dev/null"]);
    await ok(["commit", "df-ctr", "df-image:1"]);
    const df = (await (await env.api("/system/df")).json()) as {
      LayersSize: number;
      Images: { RepoTags: string[]; Size: number; SharedSize: number; Containers: number }[];
      Containers: { Names: string[]; SizeRw: number }[];
      Volumes: { Name: string; UsageData: { Size: number; RefCount: number } }[];
    };
    const container = df.Containers.find((c) => c.Names[0] === "/df-ctr")!;
    expect(container.SizeRw).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(container.SizeRw).toBeLessThan(4 * 1024 * 1024);
    const id = await inspect<string>("df-ctr", ".Id");
    expect(container.SizeRw).toBeLessThanOrEqual(diskBytes(join(env.daemon.dataRoot, "overlay")));
    const named = df.Volumes.find((v) => v.Name === "df-named")!;
    expect(named.UsageData).toEqual({ Size: 1024 * 1024, RefCount: 1 });
    const anonymous = df.Volumes.find((v) => v.UsageData.Size === 2 * 1024 * 1024)!;
    expect(diskBytes(join(env.daemon.dataRoot, "volumes", anonymous.Name))).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    const image = df.Images.find((i) => i.RepoTags.includes("df-image:1"))!;
    const base = df.Images.find((i) => i.RepoTags.includes(bb))!;
    expect(image.Size - base.Size).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    expect(image.SharedSize).toBe(base.Size);
    expect(base.Containers).toBe(1);
    expect(df.LayersSize).toBe(image.Size);
    const table = await ok(["system", "df"]);
    expect(table).toMatch(/Local Volumes\s+\d+\s+\d+\s+/);

    const prune = await ok(["system", "prune", "-a", "--volumes", "-f"]);
    expect(prune).toContain(id);
    expect(prune).toContain("Total reclaimed space");
    const after = (await (await env.api("/system/df")).json()) as typeof df;
    expect(after.Containers.some((c) => c.Names[0] === "/df-ctr")).toBe(false);
    expect(after.Images).toEqual([]);
    expect(after.LayersSize).toBe(0);
    // Named volumes stay (docker prunes only anonymous ones with --volumes); the anonymous one is gone from disk.
    expect(after.Volumes.map((v) => v.Name)).toEqual(expect.arrayContaining(["df-named"]));
    expect(existsSync(join(env.daemon.dataRoot, "volumes", anonymous.Name))).toBe(false);
    // A removed snapshot leaves view at once; its files are deleted in the background a moment later.
    await eventually(() => diskBytes(join(env.daemon.dataRoot, "overlay")) < 64 * 1024, "the pruned snapshots' space to be freed");
    expect(diskBytes(join(env.daemon.dataRoot, "content"))).toBeLessThan(64 * 1024);
    await ok(["volume", "rm", "df-named"]);
    const own = await bunker(env.daemon.env, ["system", "prune", "-a", "--volumes", "-f"]);
    expect(own.exitCode).toBe(0);
    expect(own.stdout).toContain("Total reclaimed space: 0B");
    // Bring busybox back for the tests after this one.
    await ok(["pull", bb]);
  }, 120_000);

  test("at start-up, layer directories, blobs and ingest files the database does not know are removed", async () => {
    const home = join(env.daemon.dataRoot, "overlay");
    const [real] = readdirSync(home).filter((n) => !n.startsWith("."));
    // A full snapshot directory (with its metadata) under a key no layer row has, a bare directory, a stray blob
    // and an ingest leftover.
    const fakeKey = `sha256:${"d".repeat(64)}`;
    const planted = join(home, snapshotDirName(fakeKey));
    cpSync(join(home, real!), planted, { recursive: true });
    const meta = JSON.parse(readFileSync(join(planted, "meta.json"), "utf8")) as { key: string };
    writeFileSync(join(planted, "meta.json"), JSON.stringify({ ...meta, key: fakeKey, parent: null }));
    const bare = join(home, "bare-directory");
    mkdirSync(join(bare, "diff"), { recursive: true });
    const blob = join(env.daemon.dataRoot, "content/blobs/sha256", "e".repeat(64));
    writeFileSync(blob, "stray");
    const ingest = join(env.daemon.dataRoot, "content/ingest/leftover");
    writeFileSync(ingest, "partial");
    symlinkSync("/", join(bare, "diff/escape"));
    await env.daemon.stop();
    await env.daemon.restart();
    expect(existsSync(planted)).toBe(false);
    expect(existsSync(bare)).toBe(false);
    expect(existsSync(blob)).toBe(false);
    expect(existsSync(ingest)).toBe(false);
    expect(existsSync("/bin/sh")).toBe(true);
    const logs = env.daemon.logs();
    expect(logs).toContain("removed unreferenced blob");
    expect(logs).toContain("removed orphaned snapshot");
    expect(logs).toContain("removed a graph driver directory that holds no snapshot");
    // What the database knows survives: busybox still runs.
    expect(await ok(["run", "--rm", bb, "echo", "alive"])).toBe("alive\n");
  }, 120_000);
});
