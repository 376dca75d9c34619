/**
 * Images end to end: the real docker CLI (and ours) against real daemons, pulling from and pushing to a real
 * registry (Debian's docker-registry) holding the fixture images; save/load, import, login, search; and the
 * faults: a registry that drops every blob download, a daemon SIGKILLed mid-pull, a registry serving corrupt blobs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { blobPath, buildFixtures, type FixtureInfo, pushFixtures } from "./fixtures/images.ts";
import { type RunningFlakyProxy, startFlakyProxy } from "./fixtures/flaky-proxy.ts";
import { type RunningRegistry, startRegistry } from "./fixtures/registry.ts";
import { buildTar, type TarEntry } from "./fixtures/tar.ts";
import { bunker, docker, type RunResult } from "./helpers/cli.ts";
import { startDaemon, stopDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { settle } from "./helpers/wait.ts";

const AUTH = { username: "tester", password: "s3cret-pass" };

let registry: RunningRegistry;
let fixtures: FixtureInfo;
let d1: TestDaemon;
let d2: TestDaemon;
let work: string;
const extraDaemons: TestDaemon[] = [];
const extraRegistries: RunningRegistry[] = [];
const proxies: RunningFlakyProxy[] = [];

/** The fixture push uploads shared blobs in parallel, which distribution's filesystem driver occasionally trips on. */
async function pushFixturesRetrying(url: string, options: Parameters<typeof pushFixtures>[1] = {}): Promise<FixtureInfo> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await pushFixtures(url, options);
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

function ok(result: RunResult): RunResult {
  if (result.exitCode !== 0) throw new Error(`command failed (${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

async function inspectField(d: TestDaemon, format: string, name: string): Promise<string> {
  return ok(await docker(d.env, ["image", "inspect", "--format", format, name])).stdout.trim();
}

async function newDaemon(): Promise<TestDaemon> {
  const d = await startDaemon();
  extraDaemons.push(d);
  return d;
}

async function api(d: TestDaemon, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  return fetch(`http://localhost/v1.51${path}`, { method, unix: d.socket, headers: init.headers, body: init.body } as RequestInit);
}

/** Every blob in the content store still hashes to its name. */
async function blobsVerify(dataRoot: string): Promise<string[]> {
  const dir = join(dataRoot, "content", "blobs", "sha256");
  const bad: string[] = [];
  for (const hex of readdirSync(dir)) {
    const hasher = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(join(dir, hex)).stream()) hasher.update(chunk);
    if (hasher.digest("hex") !== hex) bad.push(hex);
  }
  return bad;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "bunker-images-test-"));
  registry = await startRegistry();
  fixtures = await pushFixturesRetrying(registry.url, { large: true });
  [d1, d2] = await Promise.all([startDaemon(), startDaemon()]);
}, 120_000);

afterAll(async () => {
  for (const p of proxies) p.stop();
  await Promise.all([d1, d2, ...extraDaemons].map((d) => stopDaemon(d)));
  await Promise.all([registry, ...extraRegistries].map((r) => r?.stop()));
  rmSync(work, { recursive: true, force: true });
});

describe("pull", () => {
  test("by tag: docker's progress output, then listed by docker images", async () => {
    const r = ok(await docker(d1.env, ["pull", fixtures.busybox.reference]));
    expect(r.stdout).toContain("latest: Pulling from busybox");
    expect(r.stdout).toContain("Pull complete");
    expect(r.stdout).toContain(`Digest: ${fixtures.busybox.digest}`);
    expect(r.stdout).toContain(`Status: Downloaded newer image for ${fixtures.busybox.reference}`);
    const images = ok(await docker(d1.env, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])).stdout;
    expect(images).toContain(`${fixtures.busybox.repository}:latest ${fixtures.busybox.configDigest.slice(7, 19)}`);
    const again = ok(await docker(d1.env, ["pull", fixtures.busybox.reference]));
    expect(again.stdout).toContain(`Status: Image is up to date for ${fixtures.busybox.reference}`);
  }, 60_000);

  test("by digest: the RepoDigest is the one asked for", async () => {
    const byDigest = `${fixtures.busybox.repository}@${fixtures.busybox.digest}`;
    ok(await docker(d1.env, ["pull", byDigest]));
    expect(await inspectField(d1, "{{.Id}}", byDigest)).toBe(fixtures.busybox.configDigest);
    expect(await inspectField(d1, "{{.RepoDigests}}", byDigest)).toContain(byDigest);
  }, 60_000);

  test("multi-layer: shared layers are skipped, inspect and history describe every layer", async () => {
    const r = ok(await docker(d1.env, ["pull", fixtures.layered.reference]));
    expect(r.stdout).toContain(`${fixtures.layered.layers[0]!.digest.slice(7, 19)}: Already exists`);
    expect(JSON.parse(await inspectField(d1, "{{json .RootFS.Layers}}", fixtures.layered.reference))).toEqual(fixtures.layered.layers.map((l) => l.diffId));
    const history = ok(await docker(d1.env, ["history", fixtures.layered.reference])).stdout.trim().split("\n");
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
    expect(history).toHaveLength(5);
    expect(history[1]).toContain('CMD ["/app/hello.sh"]');
  }, 60_000);

  test("index: --platform linux/arm64 picks arm64, the default is amd64", async () => {
    const ref = fixtures.multiarch.reference;
    ok(await docker(d1.env, ["pull", "--platform", "linux/arm64", ref]));
    expect(await inspectField(d1, "{{.Architecture}}", ref)).toBe("arm64");
    expect(await inspectField(d1, "{{.Id}}", ref)).toBe(fixtures.multiarch.arm64.configDigest);
    ok(await docker(d1.env, ["pull", ref]));
    expect(await inspectField(d1, "{{.Architecture}}", ref)).toBe("amd64");
    expect(await inspectField(d1, "{{.RepoDigests}}", ref)).toContain(`${fixtures.multiarch.repository}@${fixtures.multiarch.digest}`);
  }, 60_000);

  test("GET /distribution/{name}/json lists an index's platforms", async () => {
    const res = await api(d1, "GET", `/distribution/${fixtures.multiarch.reference}/json`, { headers: { "X-Registry-Auth": "e30=" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { Descriptor: { digest: string; mediaType: string }; Platforms: { architecture: string }[] };
    expect(body.Descriptor.digest).toBe(fixtures.multiarch.digest);
    expect(body.Platforms.map((p) => p.architecture).sort()).toEqual(["amd64", "arm64"]);
  });

  test("our CLI: bunker pull prints progress lines and the name; bunker images shows docker's table", async () => {
    const d = await newDaemon();
    const r = ok(await bunker(d.env, ["pull", fixtures.layered.reference]));
    expect(r.stdout).toContain("Pull complete");
    expect(r.stdout).not.toContain("\x1b[");
    expect(r.stdout.trim().split("\n").at(-1)).toBe(fixtures.layered.reference);
    const table = ok(await bunker(d.env, ["images"])).stdout.split("\n");
    expect(table[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table[1]).toMatch(new RegExp(`^${fixtures.layered.repository.replaceAll(".", "\\.")}\\s+latest\\s+${fixtures.layered.configDigest.slice(7, 19)}\\s+.+ ago\\s+2\\.\\d+MB$`));
    expect(ok(await bunker(d.env, ["images", "-q"])).stdout.trim()).toBe(fixtures.layered.configDigest.slice(7, 19));
    expect(ok(await bunker(d.env, ["image", "inspect", "--format", "{{.Id}} {{.Architecture}}", fixtures.layered.reference])).stdout.trim()).toBe(`${fixtures.layered.configDigest} amd64`);
  }, 60_000);
});

describe("tag and rmi", () => {
  test("rmi of one of several tags untags; of the last one deletes; an ID with several tags needs -f", async () => {
    const d = await newDaemon();
    ok(await docker(d.env, ["pull", fixtures.busybox.reference]));
    ok(await docker(d.env, ["tag", fixtures.busybox.reference, "mine:v1"]));
    ok(await docker(d.env, ["tag", fixtures.busybox.reference, "other/mine:v2"]));
    expect(await inspectField(d, "{{.Id}}", "mine:v1")).toBe(fixtures.busybox.configDigest);
    expect(ok(await docker(d.env, ["rmi", "mine:v1"])).stdout.trim()).toBe("Untagged: mine:v1");
    expect(await inspectField(d, "{{.Id}}", fixtures.busybox.reference)).toBe(fixtures.busybox.configDigest);

    const short = fixtures.busybox.configDigest.slice(7, 19);
    const refused = await docker(d.env, ["rmi", short]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain("image is referenced in multiple repositories");

    ok(await docker(d.env, ["rmi", "other/mine:v2"]));
    const deleted = ok(await docker(d.env, ["rmi", fixtures.busybox.reference])).stdout;
    expect(deleted).toContain(`Untagged: ${fixtures.busybox.reference}`);
    expect(deleted).toContain(`Deleted: ${fixtures.busybox.configDigest}`);
    expect(ok(await docker(d.env, ["images", "-q"])).stdout.trim()).toBe("");
  }, 60_000);

  test("an ID prefix matching several images is ambiguous", async () => {
    // Imports of distinct tarballs until two image IDs share their first hex digit (at most 17, by pigeonhole).
    const d = await newDaemon();
    const byFirst = new Map<string, string>();
    let shared: string | undefined;
    for (let i = 0; !shared; i++) {
      const tar = await buildTar([{ type: "file", path: `file-${i}`, content: `${i}\n` }]);
      const id = ok(await docker(d.env, ["import", "-", `ambiguous:${i}`], tar)).stdout.trim().slice(7);
      if (byFirst.has(id[0]!)) shared = id[0];
      byFirst.set(id[0]!, id);
    }
    const r = await docker(d.env, ["rmi", shared]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`multiple IDs found with provided prefix: ${shared}`);
    expect(await inspectField(d, "{{.Id}}", `sha256:${byFirst.get(shared)!}`)).toBe(`sha256:${byFirst.get(shared)!}`);
  }, 60_000);
});

describe("vfs driver", () => {
  test("pull applies layers on parent copies in chain order; save → load into overlay keeps the ID", async () => {
    const d = await startDaemon({ storageDriver: "vfs" });
    extraDaemons.push(d);
    ok(await docker(d.env, ["pull", fixtures.layered.reference]));
    const home = join(d.dataRoot, "vfs");
    const tops = readdirSync(home).filter((dir) => {
      const keep = join(home, dir, "diff", "data", "keep.txt");
      return existsSync(keep) && Bun.spawnSync(["cat", keep]).stdout.toString() === "keep v3\n";
    });
    expect(tops).toHaveLength(1);
    const top = join(home, tops[0]!, "diff");
    expect(existsSync(join(top, "data", "remove-me.txt"))).toBe(false);
    expect(existsSync(join(top, "opaque", "old-a.txt"))).toBe(false);
    expect(existsSync(join(top, "opaque", "new.txt"))).toBe(true);

    const archive = join(work, "vfs.tar");
    ok(await docker(d.env, ["save", "-o", archive, fixtures.layered.reference]));
    const overlay = await newDaemon();
    ok(await docker(overlay.env, ["load", "-i", archive]));
    expect(await inspectField(overlay, "{{.Id}}", fixtures.layered.reference)).toBe(fixtures.layered.configDigest);
  }, 60_000);
});

describe("push", () => {
  test("X-Registry-Auth is required", async () => {
    const res = await api(d1, "POST", `/images/${fixtures.busybox.repository}/push?tag=latest`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe("Bad parameters and missing X-Registry-Auth: EOF");
  });

  test("to a new name: mounted from the source repository, pulled back elsewhere with the same digest", async () => {
    const target = `${registry.url}/pushed/layered:v1`;
    ok(await docker(d1.env, ["tag", fixtures.layered.reference, target]));
    const r = ok(await docker(d1.env, ["push", target]));
    expect(r.stdout).toContain(`The push refers to repository [${registry.url}/pushed/layered]`);
    expect(r.stdout).toMatch(/Mounted from (layered|busybox|multiarch)/);
    // The manifest pulled is pushed unchanged: same digest.
    expect(r.stdout).toContain(`v1: digest: ${fixtures.layered.digest} size:`);
    expect(await inspectField(d1, "{{.RepoDigests}}", target)).toContain(`${registry.url}/pushed/layered@${fixtures.layered.digest}`);

    const again = ok(await docker(d1.env, ["push", target]));
    expect(again.stdout).toContain("Layer already exists");

    ok(await docker(d2.env, ["pull", target]));
    expect(await inspectField(d2, "{{.Id}}", target)).toBe(fixtures.layered.configDigest);
    expect(await inspectField(d2, "{{.RepoDigests}}", target)).toBe(`[${registry.url}/pushed/layered@${fixtures.layered.digest}]`);
  }, 60_000);
});

describe("save, load, import", () => {
  test("save → load into another daemon gives the same image ID and tags", async () => {
    const archive = join(work, "saved.tar");
    ok(await docker(d1.env, ["save", "-o", archive, fixtures.layered.reference, fixtures.busybox.reference]));
    const listing = Bun.spawnSync(["tar", "tf", archive]).stdout.toString().split("\n");
    expect(listing).toContain("manifest.json");
    expect(listing).toContain("index.json");
    expect(listing).toContain("oci-layout");
    for (const layer of fixtures.layered.layers) expect(listing).toContain(`blobs/sha256/${layer.diffId.slice(7)}`);

    const d = await newDaemon();
    const loaded = ok(await docker(d.env, ["load", "-i", archive]));
    expect(loaded.stdout).toContain(`Loaded image: ${fixtures.layered.reference}`);
    expect(loaded.stdout).toContain(`Loaded image: ${fixtures.busybox.reference}`);
    expect(await inspectField(d, "{{.Id}}", fixtures.layered.reference)).toBe(fixtures.layered.configDigest);
    expect(await inspectField(d, "{{.Id}}", fixtures.busybox.reference)).toBe(fixtures.busybox.configDigest);
    expect(JSON.parse(await inspectField(d, "{{json .RootFS.Layers}}", fixtures.layered.reference))).toEqual(fixtures.layered.layers.map((l) => l.diffId));
    // What the loaded daemon saves is byte-identical layer content: it loads again into a third daemon.
    const resaved = join(work, "resaved.tar");
    ok(await docker(d.env, ["save", "-o", resaved, fixtures.layered.reference]));
    const d3 = await newDaemon();
    ok(await docker(d3.env, ["load", "-i", resaved]));
    expect(await inspectField(d3, "{{.Id}}", fixtures.layered.reference)).toBe(fixtures.layered.configDigest);
    expect(await blobsVerify(d.dataRoot)).toEqual([]);
  }, 60_000);

  test("load of an OCI layout with gzip layers and a nested index picks this host's platform", async () => {
    const built = await buildFixtures();
    const index = built.multiarch.index;
    const blobs = [index, ...built.multiarch.images.flatMap((image) => [image.manifest, image.config, ...image.layers])];
    const seen = new Set<string>();
    const entries: TarEntry[] = [
      { type: "file", path: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      {
        type: "file",
        path: "index.json",
        content: JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: index.mediaType, digest: index.digest, size: index.size, annotations: { "io.containerd.image.name": "example.test/oci/multi:v2", "org.opencontainers.image.ref.name": "v2" } }],
        }),
      },
    ];
    for (const blob of blobs) {
      if (seen.has(blob.digest)) continue;
      seen.add(blob.digest);
      entries.push({ type: "file", path: `blobs/sha256/${blob.digest.slice(7)}`, content: readFileSync(blobPath(blob.digest)) });
    }
    const d = await newDaemon();
    const r = ok(await docker(d.env, ["load"], await buildTar(entries)));
    expect(r.stdout).toContain("Loaded image: example.test/oci/multi:v2");
    expect(await inspectField(d, "{{.Architecture}}", "example.test/oci/multi:v2")).toBe("amd64");
    expect(await inspectField(d, "{{.Id}}", "example.test/oci/multi:v2")).toBe(fixtures.multiarch.amd64.configDigest);
    // The gzip layers were kept as they came: the image pushes without recompressing, as the same manifest.
    const target = `${registry.url}/from-oci:v2`;
    ok(await docker(d.env, ["tag", "example.test/oci/multi:v2", target]));
    ok(await docker(d.env, ["push", target]));
    const manifest = (await (await fetch(`http://${registry.url}/v2/from-oci/manifests/v2`, { headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" } })).json()) as { layers: { digest: string }[] };
    expect(manifest.layers.map((l) => l.digest)).toEqual(fixtures.multiarch.amd64.layers.map((l) => l.digest));
  }, 60_000);

  test("load of a legacy docker-archive (<id>/layer.tar, symlinked duplicate layers, <hex>.json config)", async () => {
    const built = await buildFixtures();
    const config = readFileSync(blobPath(built.busybox.config.digest));
    const layer = Bun.gunzipSync(readFileSync(blobPath(built.busybox.layers[0]!.digest)));
    const configName = `${built.busybox.config.digest.slice(7)}.json`;
    const archive = await buildTar([
      { type: "dir", path: "aaaa" },
      { type: "file", path: "aaaa/layer.tar", content: layer },
      { type: "dir", path: "bbbb" },
      { type: "symlink", path: "bbbb/layer.tar", target: "../aaaa/layer.tar" },
      { type: "file", path: configName, content: config },
      { type: "file", path: "manifest.json", content: JSON.stringify([{ Config: configName, RepoTags: ["legacy:one"], Layers: ["bbbb/layer.tar"] }]) },
      { type: "file", path: "repositories", content: JSON.stringify({ legacy: { one: "aaaa" } }) },
    ]);
    const d = await newDaemon();
    const r = ok(await docker(d.env, ["load"], archive));
    expect(r.stdout).toContain("Loaded image: legacy:one");
    expect(await inspectField(d, "{{.Id}}", "legacy:one")).toBe(fixtures.busybox.configDigest);
    // The plain layer tar is the layer's blob now; nothing else of the archive stays in the content store.
    expect(readdirSync(join(d.dataRoot, "content", "blobs", "sha256")).sort()).toEqual([built.busybox.config.digest.slice(7), built.busybox.layers[0]!.diffId.slice(7)].sort());
  }, 60_000);

  test("load of a bad archive is an error and leaves no image behind", async () => {
    const d = await newDaemon();
    const r = await docker(d.env, ["load"], await buildTar([{ type: "file", path: "hello.txt", content: "not an image\n" }]));
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr + r.stdout).toContain("neither manifest.json nor index.json");
    expect(ok(await docker(d.env, ["images", "-q"])).stdout.trim()).toBe("");
    expect(readdirSync(join(d.dataRoot, "content", "blobs", "sha256"))).toEqual([]);
  }, 30_000);

  test("import with --change and a message; the imported image pushes and pulls back identical", async () => {
    const rootfs = join(work, "rootfs.tar");
    writeFileSync(
      rootfs,
      await buildTar([
        { type: "dir", path: "etc" },
        { type: "file", path: "etc/hello", content: "imported\n" },
      ]),
    );
    const r = ok(await docker(d2.env, ["import", "--change", 'CMD ["x"]', "--change", "ENV A=b", "-m", "from a test", rootfs, "imported:v1"]));
    const id = r.stdout.trim();
    expect(id).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await inspectField(d2, "{{.Id}}", "imported:v1")).toBe(id);
    expect(await inspectField(d2, "{{json .Config.Cmd}}", "imported:v1")).toBe('["x"]');
    expect(await inspectField(d2, "{{json .Config.Env}}", "imported:v1")).toBe('["A=b"]');
    expect(await inspectField(d2, "{{.Comment}}", "imported:v1")).toBe("from a test");

    // Its layer only exists as a plain tar: push compresses it.
    const target = `${registry.url}/imported:v1`;
    ok(await docker(d2.env, ["tag", "imported:v1", target]));
    const pushed = ok(await docker(d2.env, ["push", target]));
    expect(pushed.stdout).toContain("Pushed");
    ok(await docker(d1.env, ["pull", target]));
    expect(await inspectField(d1, "{{.Id}}", target)).toBe(id);
  }, 60_000);
});

describe("registry login and search", () => {
  test("login to a registry with Basic auth, then pull a private image; a bad password is refused", async () => {
    const auth = await startRegistry({ auth: AUTH });
    extraRegistries.push(auth);
    const privateImages = await pushFixturesRetrying(auth.url, { credentials: AUTH });
    const d = await newDaemon();
    const denied = await docker(d.env, ["pull", privateImages.busybox.reference]);
    expect(denied.exitCode).not.toBe(0);

    const bad = await docker(d.env, ["login", "-u", AUTH.username, "--password-stdin", auth.url], "wrong-password\n");
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain(`login attempt to http://${auth.url}/v2/ failed with status: 401 Unauthorized`);

    const good = ok(await docker(d.env, ["login", "-u", AUTH.username, "--password-stdin", auth.url], `${AUTH.password}\n`));
    expect(good.stdout).toContain("Login Succeeded");
    ok(await docker(d.env, ["pull", privateImages.busybox.reference]));
    expect(await inspectField(d, "{{.Id}}", privateImages.busybox.reference)).toBe(privateImages.busybox.configDigest);
    ok(await docker(d.env, ["tag", privateImages.busybox.reference, `${auth.url}/copied/busybox:v1`]));
    expect(ok(await docker(d.env, ["push", `${auth.url}/copied/busybox:v1`])).stdout).toContain("Mounted from busybox");

    // Our CLI keeps its own credentials file, readable by its owner only.
    const env = { ...d.env, BUNKER_CONFIG: join(d.dir, "bunker-config") };
    ok(await bunker(env, ["login", "-u", AUTH.username, "--password-stdin", auth.url], `${AUTH.password}\n`));
    expect(statSync(join(env.BUNKER_CONFIG, "config.json")).mode & 0o777).toBe(0o600);
    ok(await bunker(env, ["pull", privateImages.layered.reference]));
    expect(ok(await bunker(env, ["logout", auth.url])).stdout).toContain(`Removing login credentials for ${auth.url}`);
    const anonymous = await bunker(env, ["pull", `${auth.url}/multiarch:latest`]);
    expect(anonymous.exitCode).not.toBe(0);
  }, 90_000);

  test("search uses the registry's catalog when it has no search API", async () => {
    const r = ok(await docker(d1.env, ["search", `${registry.url}/lay`]));
    expect(r.stdout).toMatch(/^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    expect(r.stdout).toContain(`${registry.url}/layered`);
    expect(r.stdout).toContain(`${registry.url}/pushed/layered`);
    expect(r.stdout).not.toContain(`${registry.url}/busybox`);
  });
});

describe("faults", () => {
  test("a registry that drops every blob download: the pull fails clearly and leaves no half image", async () => {
    const proxy = await startFlakyProxy({ target: registry.url, mode: "cut", afterBytes: 4096, times: Number.POSITIVE_INFINITY });
    proxies.push(proxy);
    const d = await newDaemon();
    const r = await docker(d.env, ["pull", `${proxy.url}/layered:latest`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/blob sha256:[a-f0-9]{64}/);
    expect(proxy.requests.some((line) => line.includes("Range: bytes="))).toBe(true);
    expect(ok(await docker(d.env, ["images", "-a", "-q"])).stdout.trim()).toBe("");
    // The partial downloads may be dropped a moment after the client heard of the failure.
    await settle(() => readdirSync(join(d.dataRoot, "content", "ingest")).length === 0 && readdirSync(join(d.dataRoot, "tmp")).length === 0);
    expect(readdirSync(join(d.dataRoot, "content", "ingest"))).toEqual([]);
    expect(readdirSync(join(d.dataRoot, "tmp"))).toEqual([]);
  }, 60_000);

  test("a corrupt blob is a digest mismatch", async () => {
    const proxy = await startFlakyProxy({ target: registry.url, mode: "corrupt" });
    proxies.push(proxy);
    const d = await newDaemon();
    const r = await docker(d.env, ["pull", `${proxy.url}/busybox:latest`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/digest/i);
    expect(r.stderr + r.stdout).toMatch(/mismatch|verif/i);
    expect(ok(await docker(d.env, ["images", "-a", "-q"])).stdout.trim()).toBe("");
  }, 30_000);

  test("SIGKILL mid-pull: after restart no half image, no ingest leftovers, every blob verifies", async () => {
    const large = fixtures.large!;
    // Blob downloads past 5 MB hang: the config and the small base layer get through, the big layers stall.
    const proxy = await startFlakyProxy({ target: registry.url, mode: "stall", afterBytes: 5 * 1024 * 1024, times: Number.POSITIVE_INFINITY });
    proxies.push(proxy);
    const d = await newDaemon();
    ok(await docker(d.env, ["pull", fixtures.busybox.reference]));
    const pulling = docker(d.env, ["pull", `${proxy.url}/large:latest`]);
    const ingest = join(d.dataRoot, "content", "ingest");
    await settle(() => proxy.cutsDone >= large.layers.length - 1, 60_000);
    expect(proxy.cutsDone).toBe(large.layers.length - 1);
    // The daemon may still be catching up with the bytes that did arrive.
    await settle(() => readdirSync(ingest).length > 0);
    expect(readdirSync(ingest).length).toBeGreaterThan(0);
    await d.kill9();
    expect((await pulling).exitCode).not.toBe(0);

    await d.restart();
    expect(readdirSync(ingest)).toEqual([]);
    const listed = ok(await docker(d.env, ["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"])).stdout.trim().split("\n");
    expect(listed).toEqual([fixtures.busybox.reference]);
    expect(await blobsVerify(d.dataRoot)).toEqual([]);
    // The store is whole: the same image pulls completely now.
    ok(await docker(d.env, ["pull", large.reference]));
    expect(await inspectField(d, "{{.Id}}", large.reference)).toBe(large.configDigest);
    expect(existsSync(join(d.dataRoot, "tmp"))).toBe(true);
    expect(readdirSync(join(d.dataRoot, "tmp"))).toEqual([]);
  }, 150_000);
});
