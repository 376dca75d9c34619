/**
 * Local volumes (src/volumes): the service on a real SQLite store and real mounts (tmpfs and bind-backed volumes,
 * copy-up from a real root filesystem with hostile symlinks), the API routes through the daemon's HTTP app, the
 * mount-spec parser against moby's rules and messages, and the docker CLI against a real daemon.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lsetxattr, lgetxattr } from "../drivers/libc/libc";
import { createApp } from "../src/api/app";
import { volumeRoutes } from "../src/api/routes/volumes";
import { EventBus } from "../src/engine/events";
import { ConflictError, InvalidParameterError, NotFoundError } from "../src/errors";
import { openStore } from "../src/store/db";
import { isMountPoint } from "../src/volumes/local-mount";
import { inheritMounts, launchMount, mountPoint, parseApiMount, parseBind, parseMounts, parseTmpfs, parseVolumesFrom } from "../src/volumes/mount-spec";
import { VolumeService } from "../src/volumes/service";
import { VolumeStore } from "../src/volumes/store";
import { docker } from "./helpers/cli";
import { startDaemon, stopDaemon, type TestDaemon } from "./helpers/daemon";

const scratch = mkdtempSync("/tmp/bunker-volumes-test-");
const services: VolumeService[] = [];
afterAll(() => {
  // Unmount whatever a failed test left mounted under the scratch directory, then remove it.
  const mounted = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined && p.startsWith(scratch))
    .reverse();
  for (const p of mounted) Bun.spawnSync(["umount", "-l", p]);
  rmSync(scratch, { recursive: true, force: true });
});

function newService(): { service: VolumeService; events: EventBus; root: string } {
  const dir = mkdtempSync(join(scratch, "svc-"));
  const events = new EventBus();
  const service = new VolumeService({ store: new VolumeStore(openStore(join(dir, "bunker.db"))), root: join(dir, "volumes"), events });
  service.init();
  services.push(service);
  return { service, events, root: join(dir, "volumes") };
}

/** A small root filesystem with a VOLUME directory to copy up, and symlinks that must not be followed out. */
function imageRoot(): string {
  const root = mkdtempSync(join(scratch, "rootfs-"));
  mkdirSync(join(root, "data/sub"), { recursive: true });
  writeFileSync(join(root, "data/seed"), "seeded");
  writeFileSync(join(root, "data/sub/deep"), "deep");
  chownSync(join(root, "data"), 1000, 1001);
  statSync(join(root, "data"));
  Bun.spawnSync(["chmod", "0750", join(root, "data")]);
  chownSync(join(root, "data/seed"), 1000, 1000);
  lsetxattr(join(root, "data/seed"), "user.origin", new TextEncoder().encode("image"));
  symlinkSync("/etc", join(root, "data/etc-link"));
  symlinkSync("/", join(root, "escape"));
  return root;
}

describe("VolumeService", () => {
  test("create, inspect, list with filters, and the same name twice gives the existing volume", async () => {
    const { service, events } = newService();
    const seen: string[] = [];
    events.subscribe((e) => seen.push(`${e.Type} ${e.Action} ${e.Actor.ID}`));
    const a = await service.create({ Name: "alpha", Labels: { team: "x" } });
    expect(a).toMatchObject({ Name: "alpha", Driver: "local", Labels: { team: "x" }, Options: null, Scope: "local" });
    expect(a.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(existsSync(a.Mountpoint)).toBe(true);
    expect(a.Mountpoint.endsWith("/alpha/_data")).toBe(true);
    expect(await service.create({ Name: "alpha", Labels: { other: "y" } })).toEqual(a);
    const anonymous = await service.create({});
    expect(anonymous.Name).toMatch(/^[0-9a-f]{64}$/);
    expect(anonymous.Labels).toEqual({ "com.docker.volume.anonymous": "" });
    expect(service.list().map((v) => v.Name).sort()).toEqual(["alpha", anonymous.Name].sort());
    expect(service.list({ label: ["team=x"] }).map((v) => v.Name)).toEqual(["alpha"]);
    expect(service.list({ label: ["team"] }).map((v) => v.Name)).toEqual(["alpha"]);
    expect(service.list({ name: ["alp"] }).map((v) => v.Name)).toEqual(["alpha"]);
    expect(service.list({ driver: ["other"] })).toEqual([]);
    await service.acquire("alpha", "c1");
    expect(service.list({ dangling: true }).map((v) => v.Name)).toEqual([anonymous.Name]);
    expect(service.list({ dangling: false }).map((v) => v.Name)).toEqual(["alpha"]);
    expect(seen).toEqual([`volume create alpha`, `volume create ${anonymous.Name}`]);
  });

  test("bad names, unknown drivers and bad driver options are refused like docker", async () => {
    const { service } = newService();
    await expect(service.create({ Name: "a" })).rejects.toThrow(InvalidParameterError);
    await expect(service.create({ Name: "bad/name" })).rejects.toThrow('"bad/name" includes invalid characters for a local volume name');
    await expect(service.create({ Name: "x1", Driver: "nfs-plugin" })).rejects.toThrow(new NotFoundError('error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found'));
    await expect(service.create({ Name: "x2", DriverOpts: { foo: "bar" } })).rejects.toThrow('invalid option: "foo"');
    await expect(service.create({ Name: "x3", DriverOpts: { type: "tmpfs" } })).rejects.toThrow('missing required option: "device"');
    expect(() => service.inspect("nope")).toThrow(new NotFoundError("get nope: no such volume"));
  });

  test("in-use volumes cannot be removed, even with force; force forgives a missing one", async () => {
    const { service } = newService();
    await service.acquire("shared", "c1");
    await service.acquire("shared", "c2");
    await service.acquire("shared", "c2");
    expect(service.users("shared")).toEqual(["c1", "c2"]);
    await expect(service.remove("shared")).rejects.toThrow(new ConflictError("remove shared: volume is in use - [c1, c2]"));
    await expect(service.remove("shared", true)).rejects.toThrow(ConflictError);
    await service.release("shared", "c1");
    await service.release("shared", "c2");
    expect(service.inUse("shared")).toBe(false);
    const path = service.dataPath("shared");
    writeFileSync(join(path, "file"), "x");
    await service.remove("shared");
    expect(existsSync(path)).toBe(false);
    await expect(service.remove("shared")).rejects.toThrow(new NotFoundError("get shared: no such volume"));
    await service.remove("shared", true);
  });

  test("anonymous volumes: acquire(null) names one; release with removeAnonymous deletes it; named ones stay", async () => {
    const { service } = newService();
    const anon = await service.acquire(null, "c1");
    const named = await service.acquire("keepme", "c1");
    expect(anon.name).toMatch(/^[0-9a-f]{64}$/);
    expect(anon.path).toBe(service.dataPath(anon.name));
    await service.release(anon.name, "c1", { removeAnonymous: true });
    await service.release(named.name, "c1", { removeAnonymous: true });
    expect(service.list().map((v) => v.Name)).toEqual(["keepme"]);
  });

  test("copy-up fills an empty volume from the image with owners, modes and xattrs, once, without following symlinks", async () => {
    const { service } = newService();
    const rootfs = imageRoot();
    const { path } = await service.acquire("seeded", "c1", { copyFrom: { rootfs, path: "/data" } });
    expect(readFileSync(join(path, "seed"), "utf8")).toBe("seeded");
    expect(readFileSync(join(path, "sub/deep"), "utf8")).toBe("deep");
    expect(lstatSync(join(path, "seed"))).toMatchObject({ uid: 1000, gid: 1000 });
    expect(Buffer.from(lgetxattr(join(path, "seed"), "user.origin")!).toString()).toBe("image");
    expect(lstatSync(path)).toMatchObject({ uid: 1000, gid: 1001 });
    expect(lstatSync(path).mode & 0o7777).toBe(0o750);
    expect(lstatSync(join(path, "etc-link")).isSymbolicLink()).toBe(true);
    // Not empty any more: a second container's start copies nothing over the volume's own changes.
    writeFileSync(join(path, "seed"), "changed by a container");
    await service.acquire("seeded", "c2", { copyFrom: { rootfs, path: "/data" } });
    expect(readFileSync(join(path, "seed"), "utf8")).toBe("changed by a container");
    // A VOLUME path behind a symlink to "/" is resolved inside the image's root: the image's /data again.
    const escaped = await service.acquire("escaped", "c3", { copyFrom: { rootfs, path: "/escape/data" } });
    expect(readdirSync(escaped.path).sort()).toEqual(["etc-link", "seed", "sub"]);
    // Nothing at that path in the image: the volume stays empty.
    const empty = await service.acquire("empty", "c4", { copyFrom: { rootfs, path: "/missing" } });
    expect(readdirSync(empty.path)).toEqual([]);
  });

  test("tmpfs-backed volumes are mounted while used and unmounted when the last user goes", async () => {
    const { service } = newService();
    await service.create({ Name: "fast", DriverOpts: { type: "tmpfs", device: "tmpfs", o: "size=1m,uid=1000" } });
    const path = service.dataPath("fast");
    expect(isMountPoint(path)).toBe(false);
    await service.acquire("fast", "c1");
    expect(isMountPoint(path)).toBe(true);
    expect(lstatSync(path).uid).toBe(1000);
    // The size limit is enforced by the kernel.
    expect(() => writeFileSync(join(path, "big"), new Uint8Array(2 * 1024 * 1024))).toThrow();
    await service.acquire("fast", "c2");
    await service.release("fast", "c1");
    expect(isMountPoint(path)).toBe(true);
    await service.release("fast", "c2");
    expect(isMountPoint(path)).toBe(false);
  });

  test("bind-backed volumes show the host directory, read-only when asked", async () => {
    const { service } = newService();
    const host = mkdtempSync(join(scratch, "bind-src-"));
    writeFileSync(join(host, "hello"), "from the host");
    await service.create({ Name: "hostdir", DriverOpts: { type: "none", device: host, o: "bind,ro" } });
    const { path } = await service.acquire("hostdir", "c1");
    expect(readFileSync(join(path, "hello"), "utf8")).toBe("from the host");
    expect(() => writeFileSync(join(path, "nope"), "x")).toThrow();
    // Removing it unmounts first: the host directory's files are untouched.
    await service.release("hostdir", "c1");
    await service.acquire("hostdir", "c1");
    await service.release("hostdir", "c1");
    await service.remove("hostdir");
    expect(readFileSync(join(host, "hello"), "utf8")).toBe("from the host");
  });

  test("a volume's removal does not follow symlinks a container left in it", async () => {
    const { service } = newService();
    const outside = mkdtempSync(join(scratch, "outside-"));
    writeFileSync(join(outside, "precious"), "keep");
    const { path } = await service.acquire("dirty", "c1");
    symlinkSync(outside, join(path, "link"));
    mkdirSync(join(path, "dir"));
    symlinkSync("/", join(path, "dir/root"));
    await service.release("dirty", "c1");
    await service.remove("dirty");
    expect(readFileSync(join(outside, "precious"), "utf8")).toBe("keep");
  });

  test("prune removes unused anonymous volumes (all unused with all), with sizes; disk usage counts references", async () => {
    const { service } = newService();
    const anonUsed = await service.acquire(null, "c1");
    const anonFree = await service.create({});
    writeFileSync(join(anonFree.Mountpoint, "blob"), new Uint8Array(5000));
    await service.create({ Name: "named-free", Labels: { keep: "no" } });
    await service.create({ Name: "named-kept", Labels: { keep: "yes" } });
    const usage = await service.diskUsage();
    expect(usage.find((v) => v.Name === anonFree.Name)?.UsageData).toEqual({ Size: 5000, RefCount: 0 });
    expect(usage.find((v) => v.Name === anonUsed.name)?.UsageData).toEqual({ Size: 0, RefCount: 1 });
    expect(await service.prune({ all: false })).toEqual({ VolumesDeleted: [anonFree.Name], SpaceReclaimed: 5000 });
    expect(await service.prune({ all: true, notLabel: ["keep=yes"] })).toEqual({ VolumesDeleted: ["named-free"], SpaceReclaimed: 0 });
    expect(service.list().map((v) => v.Name).sort()).toEqual([anonUsed.name, "named-kept"].sort());
  });
});

describe("volume routes", () => {
  let app: ReturnType<typeof createApp>;
  beforeAll(() => {
    app = createApp([volumeRoutes(newService().service)]);
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app(new Request(`http://localhost${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) }), {} as never);
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };

  test("create is 201, list wraps in Volumes and Warnings, inspect, delete 204, prune", async () => {
    const created = await call("POST", "/v1.51/volumes/create", { Name: "api1", Driver: "local", DriverOpts: {}, Labels: { a: "b" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ Name: "api1", Labels: { a: "b" }, Options: {} });
    expect((await call("POST", "/volumes/create", { Name: "api1" })).status).toBe(201);
    const listed = await call("GET", `/volumes?filters=${encodeURIComponent(JSON.stringify({ label: ["a=b"] }))}`);
    expect(listed).toEqual({ status: 200, body: { Volumes: [created.body], Warnings: [] } });
    expect((await call("GET", `/volumes?filters=${encodeURIComponent(JSON.stringify({ bogus: ["1"] }))}`)).status).toBe(400);
    expect((await call("GET", `/volumes?filters=${encodeURIComponent(JSON.stringify({ dangling: ["maybe"] }))}`)).status).toBe(400);
    expect(await call("GET", "/volumes/api1")).toEqual({ status: 200, body: created.body });
    expect(await call("GET", "/volumes/none")).toEqual({ status: 404, body: { message: "get none: no such volume" } });
    expect((await call("DELETE", "/volumes/api1")).status).toBe(204);
    expect((await call("DELETE", "/volumes/api1")).status).toBe(404);
    expect((await call("DELETE", "/volumes/api1?force=1")).status).toBe(204);
    await call("POST", "/volumes/create", { Name: "named" });
    await call("POST", "/volumes/create", {});
    const pruned = await call("POST", "/v1.51/volumes/prune");
    expect(pruned.status).toBe(200);
    expect((pruned.body!.VolumesDeleted as string[]).length).toBe(1);
    // Clients older than API 1.42 prune named volumes too.
    expect(await call("POST", "/v1.41/volumes/prune")).toEqual({ status: 200, body: { VolumesDeleted: ["named"], SpaceReclaimed: 0 } });
  });
});

describe("mount specs", () => {
  test("-v binds, named and anonymous volumes, modes", () => {
    expect(parseBind("/host/dir/:/ctr/:ro,rshared")).toMatchObject({ type: "bind", source: "/host/dir", target: "/ctr", readonly: true, propagation: "rshared", mode: "ro,rshared", createSource: true });
    expect(parseBind("/h:/c")).toMatchObject({ readonly: false, propagation: "rprivate", mode: "" });
    expect(parseBind("data:/var/lib/data:nocopy")).toMatchObject({ type: "volume", source: "data", nocopy: true, propagation: "", mode: "nocopy" });
    expect(parseBind("data:/d")).toMatchObject({ type: "volume", mode: "z" });
    expect(parseBind("/only/target")).toMatchObject({ type: "volume", source: "", target: "/only/target" });
  });

  test("-v errors use docker's wording", () => {
    expect(() => parseBind("/h:/c:xyz")).toThrow(new InvalidParameterError("invalid mode: xyz"));
    expect(() => parseBind("/h:/c:ro,rw")).toThrow(new InvalidParameterError("invalid mode: ro,rw"));
    expect(() => parseBind("/foo:rw")).toThrow(new InvalidParameterError("invalid volume specification: '/foo:rw'"));
    expect(() => parseBind("a:b:c:d")).toThrow(new InvalidParameterError("invalid volume specification: 'a:b:c:d'"));
    expect(() => parseBind(":/c")).toThrow(new InvalidParameterError("invalid volume specification: ':/c'"));
    expect(() => parseBind("/h:/")).toThrow(new InvalidParameterError(`invalid volume specification: '/h:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`));
    expect(() => parseBind("/h:rel/path")).toThrow(new InvalidParameterError(`invalid volume specification: '/h:rel/path': invalid mount config for type "bind": invalid mount path: 'rel/path' mount path must be absolute`));
    expect(() => parseBind("rel/dir:/c")).toThrow('create rel/dir: "rel/dir" includes invalid characters for a local volume name');
  });

  test("--mount (HostConfig.Mounts) as the docker CLI sends it", () => {
    const exists = (p: string) => p === "/exists";
    expect(parseApiMount({ Type: "bind", Source: "/exists", Target: "/in", ReadOnly: true, BindOptions: { Propagation: "rslave" } }, exists)).toMatchObject({
      type: "bind", source: "/exists", target: "/in", readonly: true, propagation: "rslave", createSource: false,
    });
    expect(() => parseApiMount({ Type: "bind", Source: "/x", Target: "/in" }, exists)).toThrow(new InvalidParameterError(`invalid mount config for type "bind": bind source path does not exist: /x`));
    expect(() => parseApiMount({ Type: "bind", Target: "/in" }, exists)).toThrow(`invalid mount config for type "bind": field Source must not be empty`);
    expect(() => parseApiMount({ Type: "bind", Source: "/exists", Target: "/in", BindOptions: { Propagation: "weird" } }, exists)).toThrow("invalid propagation mode: weird");
    expect(() => parseApiMount({ Type: "volume", Target: "/in", ReadOnly: true })).toThrow("must not set ReadOnly mode when using anonymous volumes");
    expect(() => parseApiMount({ Type: "tmpfs", Source: "x", Target: "/t" })).toThrow(`invalid mount config for type "tmpfs": field Source must not be specified`);
    expect(() => parseApiMount({ Type: "volume", Target: "" })).toThrow(`invalid mount config for type "volume": field Target must not be empty`);
    expect(() => parseApiMount({ Type: "weird", Target: "/x" })).toThrow(`invalid mount config for type "weird": mount type unknown`);
    const vol = parseApiMount({ Type: "volume", Source: "v1", Target: "/v", VolumeOptions: { NoCopy: true, Labels: { l: "1" }, DriverConfig: { Name: "local", Options: { type: "tmpfs", device: "tmpfs" } } } });
    expect(vol).toMatchObject({ type: "volume", source: "v1", nocopy: true, volumeLabels: { l: "1" }, volumeDriverOptions: { type: "tmpfs", device: "tmpfs" }, mode: "z" });
    const tmp = parseApiMount({ Type: "tmpfs", Target: "/t", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1770 } });
    expect(tmp).toMatchObject({ tmpfsSize: 67108864, tmpfsMode: 0o1770, tmpfsOptions: ["size=64m", "mode=1770"], listed: true });
    expect(launchMount(tmp, "")).toEqual({ type: "tmpfs", destination: "/t", readonly: false, noexec: true, nosuid: true, nodev: true, data: "size=64m,mode=1770" });
  });

  test("--tmpfs options, and what the launcher and inspect get", () => {
    const t = parseTmpfs("/run", "size=10m,mode=755,exec");
    expect(t).toMatchObject({ type: "tmpfs", tmpfsSize: 10 * 1024 * 1024, tmpfsMode: 0o755, listed: false });
    expect(launchMount(t, "")).toEqual({ type: "tmpfs", destination: "/run", readonly: false, noexec: false, nosuid: true, nodev: true, data: "size=10m,mode=755" });
    expect(() => parseTmpfs("/run", "bogus")).toThrow(InvalidParameterError);
    expect(() => parseTmpfs("relative", "")).toThrow("mount path must be absolute");
    expect(mountPoint(t, "")).toBeNull();
    const bind = parseBind("/h:/c:ro");
    expect(launchMount(bind, "/h")).toEqual({ type: "bind", source: "/h", destination: "/c", readonly: true, recursive: true, propagation: "rprivate" });
    expect(mountPoint(bind, "/h")).toEqual({ Type: "bind", Source: "/h", Destination: "/c", Mode: "ro", RW: false, Propagation: "rprivate" });
    const vol = parseBind("data:/d");
    expect(mountPoint(vol, "/root/volumes/data/_data")).toEqual({ Type: "volume", Name: "data", Source: "/root/volumes/data/_data", Destination: "/d", Driver: "local", Mode: "z", RW: true, Propagation: "" });
    expect(launchMount(vol, "/root/volumes/data/_data")).toMatchObject({ type: "bind", source: "/root/volumes/data/_data", propagation: "rprivate" });
  });

  test("precedence: volumes-from < binds < mounts, image volumes only where nothing is mounted, duplicates refused", () => {
    const inherited = inheritMounts([parseBind("shared:/shared"), parseBind("/h:/over")], parseVolumesFrom("other:ro").mode);
    expect(inherited.every((m) => m.readonly && m.nocopy)).toBe(true);
    const mounts = parseMounts(
      {
        inherited,
        Binds: ["/host:/over", "named:/data"],
        Mounts: [{ Type: "tmpfs", Target: "/scratch" }],
        Tmpfs: { "/run": "size=1m" },
        Volumes: { "/data": {}, "/image-volume": {}, "/run": {} },
      },
      { bindSourceExists: () => true },
    );
    expect(mounts.map((m) => `${m.type}:${m.source}:${m.target}:${m.readonly ? "ro" : "rw"}`)).toEqual([
      "volume:shared:/shared:ro",
      "bind:/host:/over:rw",
      "volume:named:/data:rw",
      "tmpfs::/scratch:rw",
      "volume::/image-volume:rw",
      "tmpfs::/run:rw",
    ]);
    expect(() => parseMounts({ Binds: ["/a:/x", "/b:/x"] })).toThrow(new InvalidParameterError("Duplicate mount point: /x"));
    expect(() => parseMounts({ Binds: ["/a:/x"], Tmpfs: { "/x": "" } })).toThrow("Duplicate mount point: /x");
    expect(() => parseMounts({ Binds: ["/a:/x"], Mounts: [{ Type: "volume", Target: "/x" }] })).toThrow("Duplicate mount point: /x");
    expect(parseVolumesFrom("c1")).toEqual({ container: "c1", mode: "rw" });
    expect(() => parseVolumesFrom("c1:rshared")).toThrow("invalid mode: rshared");
    expect(() => parseVolumesFrom("")).toThrow("volumes-from specification cannot be an empty string");
  });
});

describe("docker volume CLI against a daemon", () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await startDaemon();
  });
  afterAll(() => stopDaemon(daemon));

  test("create, ls, inspect, rm, prune, system df", async () => {
    const env = daemon.env;
    expect((await docker(env, ["volume", "create", "--label", "a=b", "cli-vol"])).stdout.trim()).toBe("cli-vol");
    const tmpfs = await docker(env, ["volume", "create", "--driver", "local", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", "cli-tmpfs"]);
    expect(tmpfs.exitCode).toBe(0);
    const ls = await docker(env, ["volume", "ls"]);
    expect(ls.stdout).toMatch(/^DRIVER\s+VOLUME NAME\nlocal\s+cli-tmpfs\nlocal\s+cli-vol\n$/);
    expect((await docker(env, ["volume", "ls", "-q", "--filter", "label=a=b"])).stdout).toBe("cli-vol\n");
    const inspected = JSON.parse((await docker(env, ["volume", "inspect", "cli-vol", "cli-tmpfs"])).stdout) as { Name: string; Mountpoint: string; Options: unknown }[];
    expect(inspected.map((v) => v.Name)).toEqual(["cli-vol", "cli-tmpfs"]);
    expect(inspected[0]!.Mountpoint).toBe(join(daemon.dataRoot, "volumes/cli-vol/_data"));
    expect(inspected[1]!.Options).toEqual({ type: "tmpfs", device: "tmpfs", o: "size=1m" });
    expect((await docker(env, ["volume", "inspect", "--format", "{{.Driver}} {{.Labels.a}}", "cli-vol"])).stdout).toBe("local b\n");
    const missing = await docker(env, ["volume", "inspect", "nope"]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain("no such volume");
    const bad = await docker(env, ["volume", "create", "-o", "bogus=1", "bad-opts"]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain('invalid option: "bogus"');
    writeFileSync(join(daemon.dataRoot, "volumes/cli-vol/_data/blob"), new Uint8Array(3000));
    const df = await docker(env, ["system", "df", "-v", "--format", "json"]);
    expect(df.exitCode).toBe(0);
    const dfApi = (await (await fetch("http://localhost/system/df", { unix: daemon.socket } as RequestInit)).json()) as { Volumes: { Name: string; UsageData: { Size: number; RefCount: number } }[] };
    expect(dfApi.Volumes.find((v) => v.Name === "cli-vol")?.UsageData).toEqual({ Size: 3000, RefCount: 0 });
    expect((await docker(env, ["volume", "rm", "cli-vol", "cli-tmpfs"])).stdout).toBe("cli-vol\ncli-tmpfs\n");
    const anon = (await docker(env, ["volume", "create"])).stdout.trim();
    await docker(env, ["volume", "create", "named-left"]);
    const pruned = await docker(env, ["volume", "prune", "-f"]);
    expect(pruned.stdout).toContain(anon);
    expect(pruned.stdout).not.toContain("named-left");
    const prunedAll = await docker(env, ["volume", "prune", "-f", "--all"]);
    expect(prunedAll.stdout).toContain("named-left");
    expect((await docker(env, ["volume", "ls", "-q"])).stdout).toBe("");
  });
});
