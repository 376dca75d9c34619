/**
 * Builds end to end: the real docker CLI with the classic builder (DOCKER_BUILDKIT=0, set by helpers/cli.ts) and
 * our own `bunker build`, against a real daemon, base images pulled from a real registry holding the fixture
 * images. Checks the images through inspect, history, the layer tars of `docker save`, and by running them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { readTar } from "../src/layers/tar-reader";
import { pushFixtures, type FixtureInfo } from "./fixtures/images.ts";
import { type RunningRegistry, startRegistry } from "./fixtures/registry.ts";
import { bunker, docker, type RunResult } from "./helpers/cli.ts";
import { startDaemon, stopDaemon, type TestDaemon } from "./helpers/daemon.ts";
import { rawTar } from "./helpers/raw-tar.ts";

let registry: RunningRegistry;
let fixtures: FixtureInfo;
let d: TestDaemon;
let work: string;
let base: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "bunker-build-test-"));
  registry = await startRegistry();
  fixtures = await pushFixtures(registry.url);
  base = fixtures.busybox.reference;
  d = await startDaemon();
}, 120_000);

afterAll(async () => {
  await stopDaemon(d);
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

function ok(result: RunResult): RunResult {
  if (result.exitCode !== 0) throw new Error(`command failed (${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

type FileSpec = string | Uint8Array | { content: string; mode: number };

/** A context directory with these files (paths relative to it). */
function context(name: string, files: Record<string, FileSpec>): string {
  const dir = join(work, name);
  for (const [path, spec] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof spec === "string" || spec instanceof Uint8Array ? spec : spec.content);
    if (typeof spec === "object" && "mode" in spec) chmodSync(join(dir, path), spec.mode);
  }
  mkdirSync(dir, { recursive: true });
  return dir;
}

function build(args: string[], stdin?: string | Uint8Array): Promise<RunResult> {
  return docker(d.env, ["build", ...args], stdin);
}

async function inspect(name: string): Promise<Record<string, any>> {
  return (JSON.parse(ok(await docker(d.env, ["image", "inspect", name])).stdout) as Record<string, any>[])[0]!;
}

const usingCache = (out: string) => out.split("\n").filter((l) => l.includes("---> Using cache")).length;
const builtId = (out: string) => /Successfully built ([0-9a-f]{12})/.exec(out)?.[1];

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

interface LayerEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
}

/** The entries of each layer of an image (from `docker save`), name → what the layer holds there. */
async function layers(name: string): Promise<Map<string, LayerEntry>[]> {
  const archive = join(work, `save-${crypto.randomUUID()}.tar`);
  ok(await docker(d.env, ["save", "-o", archive, name]));
  const files = new Map<string, Uint8Array>();
  for await (const { header, body } of readTar(Bun.file(archive).stream())) {
    const parts: Uint8Array[] = [];
    for await (const chunk of body) parts.push(chunk);
    files.set(header.name, Buffer.concat(parts));
  }
  rmSync(archive);
  const manifest = JSON.parse(Buffer.from(files.get("manifest.json")!).toString()) as { Layers: string[] }[];
  const out: Map<string, LayerEntry>[] = [];
  for (const layer of manifest[0]!.Layers) {
    const entries = new Map<string, LayerEntry>();
    for await (const { header, body } of readTar(once(files.get(layer)!))) {
      let content: string | undefined;
      if (header.type === "file") {
        content = "";
        for await (const chunk of body) content += Buffer.from(chunk).toString();
      }
      entries.set(header.name.replace(/\/$/, ""), { type: header.type, mode: header.mode, uid: header.uid, gid: header.gid, content });
    }
    out.push(entries);
  }
  return out;
}

async function api(method: string, path: string, body?: Uint8Array): Promise<Response> {
  return fetch(`http://localhost/v1.41${path}`, { method, unix: d.socket, body, headers: { "Content-Type": "application/x-tar" } } as RequestInit);
}

describe("docker build", () => {
  test("every instruction's effect: config in inspect, history entries, files with owners and modes in the layers", async () => {
    const dir = context("every", {
      "run.sh": { content: '#!/bin/sh\necho "$GREETING $TARGET rev=$REV args=$* user=$(id -u) cwd=$(pwd)"\n', mode: 0o755 },
      "conf/app.conf": "port=8080\n",
      "conf/nested/extra.conf": "x=1\n",
      "bundle.tar.gz": gzipSync(rawTar([{ name: "pkg/", type: "dir" }, { name: "pkg/file.txt", body: "unpacked\n", uid: 33, gid: 33 }])),
      Dockerfile: [
        "# syntax=docker/dockerfile:1",
        `FROM ${base}`,
        'LABEL org.example.name="demo app" version=1',
        "ENV GREETING=hello \\",
        '    TARGET="the world"',
        "ARG REVISION=r1",
        "ENV REV=${REVISION}",
        "WORKDIR /app",
        "COPY --chown=1000:1000 --chmod=750 run.sh ./",
        "COPY conf/ /etc/demo/",
        "ADD bundle.tar.gz /opt/",
        "EXPOSE 8080 9000-9001/udp",
        "USER app",
        'VOLUME ["/data"]',
        'HEALTHCHECK --interval=5s --retries=2 CMD ["/app/run.sh", "health"]',
        "STOPSIGNAL SIGINT",
        'SHELL ["/bin/sh", "-ec"]',
        'ENTRYPOINT ["/app/run.sh"]',
        'CMD ["serve"]',
        "ONBUILD LABEL child=yes",
        "MAINTAINER someone@example.com",
      ].join("\n"),
    });
    const r = ok(await build(["-t", "every:1", dir]));
    expect(r.stdout).toContain(`Step 1/19 : FROM ${base}`);
    expect(r.stdout).toContain('Step 3/19 : ENV GREETING=hello     TARGET="the world"');
    expect(r.stdout).toContain("Successfully tagged every:1");

    const image = await inspect("every:1");
    const c = image.Config;
    expect(c.Env).toEqual(expect.arrayContaining(["GREETING=hello", "TARGET=the world", "REV=r1"]));
    expect(c.Labels).toEqual({ "org.example.name": "demo app", version: "1" });
    expect(c.WorkingDir).toBe("/app");
    expect(Object.keys(c.ExposedPorts).sort()).toEqual(["8080/tcp", "9000/udp", "9001/udp"]);
    expect(c.User).toBe("app");
    expect(c.Volumes).toEqual({ "/data": {} });
    expect(c.Healthcheck).toEqual({ Test: ["CMD", "/app/run.sh", "health"], Interval: 5_000_000_000, Retries: 2 });
    expect(c.StopSignal).toBe("SIGINT");
    expect(c.Shell).toEqual(["/bin/sh", "-ec"]);
    expect(c.Entrypoint).toEqual(["/app/run.sh"]);
    expect(c.Cmd).toEqual(["serve"]);
    expect(c.OnBuild).toEqual(["LABEL child=yes"]);
    expect(image.Author).toBe("someone@example.com");

    const history = ok(await docker(d.env, ["history", "--no-trunc", "--format", "{{.CreatedBy}}", "every:1"])).stdout.trim().split("\n");
    expect(history).toHaveLength(2 + 18);
    expect(history).toContain('/bin/sh -c #(nop) ENV GREETING=hello TARGET=the world');
    expect(history).toContain("/bin/sh -c #(nop) WORKDIR /app");
    expect(history.some((h) => /^\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \.\/ $/.test(h))).toBe(true);
    expect(history[0]).toBe("/bin/sh -ec #(nop) MAINTAINER someone@example.com");

    // Base layer, WORKDIR's /app, the two COPYs, ADD: metadata steps add no layer.
    const all = await layers("every:1");
    expect(all).toHaveLength(5);
    const [, workdir, script, conf, added] = all;
    expect(workdir!.get("app")).toMatchObject({ type: "directory", mode: 0o755, uid: 0 });
    expect(script!.get("app/run.sh")).toMatchObject({ type: "file", mode: 0o750, uid: 1000, gid: 1000 });
    expect(conf!.get("etc/demo/app.conf")).toMatchObject({ mode: 0o644, uid: 0, content: "port=8080\n" });
    expect(conf!.get("etc/demo/nested/extra.conf")).toMatchObject({ content: "x=1\n" });
    expect(conf!.get("etc")).toMatchObject({ type: "directory", mode: 0o755 });
    expect(added!.get("opt/pkg/file.txt")).toMatchObject({ content: "unpacked\n", uid: 33, gid: 33 });
  }, 60_000);

  test("ONBUILD triggers run in the build that starts FROM the image, and are not inherited", async () => {
    const r = ok(await build(["-t", "child:1", "-"], "FROM every:1\nLABEL more=1\n"));
    expect(r.stdout).toContain("# Executing 1 build trigger");
    const child = await inspect("child:1");
    expect(child.Config.Labels).toEqual({ "org.example.name": "demo app", version: "1", child: "yes", more: "1" });
    expect(child.Config.OnBuild ?? []).toEqual([]);
  }, 60_000);

  test("the second build is fully cached; --no-cache rebuilds; a changed file invalidates from its step on", async () => {
    const dir = context("cache", {
      "a.txt": "a1\n",
      "b.txt": "b1\n",
      Dockerfile: `FROM ${base}\nENV A=1\nCOPY a.txt /a.txt\nLABEL x=y\nCOPY b.txt /b.txt\n`,
    });
    const first = ok(await build(["-t", "cached:1", dir]));
    expect(usingCache(first.stdout)).toBe(0);
    const second = ok(await build(["-t", "cached:1", dir]));
    expect(usingCache(second.stdout)).toBe(4);
    expect(builtId(second.stdout)).toBe(builtId(first.stdout)!);

    const fresh = ok(await build(["--no-cache", "-t", "cached:2", dir]));
    expect(usingCache(fresh.stdout)).toBe(0);
    expect(builtId(fresh.stdout)).not.toBe(builtId(first.stdout)!);

    writeFileSync(join(dir, "b.txt"), "b2\n");
    const lastChanged = ok(await build(["-t", "cached:3", dir]));
    expect(usingCache(lastChanged.stdout)).toBe(3);
    writeFileSync(join(dir, "a.txt"), "a2\n");
    const firstChanged = ok(await build(["-t", "cached:4", dir]));
    expect(usingCache(firstChanged.stdout)).toBe(1);
    const files = await layers("cached:4");
    expect(files.at(-1)!.get("b.txt")?.content).toBe("b2\n");
    expect(files.at(-2)!.get("a.txt")?.content).toBe("a2\n");
  }, 60_000);

  test(".dockerignore leaves files out, with ! exceptions, whether the client or the daemon applies it", async () => {
    const dir = context("ignore", {
      "app.txt": "app\n",
      "secret.txt": "secret\n",
      "logs/keep.log": "keep\n",
      "logs/other.log": "other\n",
      ".dockerignore": "secret*\nlogs\n!logs/keep.log\n",
      Dockerfile: `FROM ${base}\nCOPY . /ctx/\n`,
    });
    ok(await build(["-t", "ignored:1", dir]));
    const copied = (await layers("ignored:1")).at(-1)!;
    expect(copied.has("ctx/app.txt")).toBe(true);
    expect(copied.has("ctx/logs/keep.log")).toBe(true);
    expect(copied.has("ctx/secret.txt")).toBe(false);
    expect(copied.has("ctx/logs/other.log")).toBe(false);

    // A raw API client sends everything: the daemon applies the patterns itself.
    const tar = rawTar([
      { name: "Dockerfile", body: "FROM scratch\nCOPY . /ctx/\n" },
      { name: ".dockerignore", body: "secret.txt\n" },
      { name: "secret.txt", body: "secret\n" },
      { name: "app.txt", body: "app\n" },
    ]);
    const res = await api("POST", "/build?t=ignored:2", tar);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Successfully tagged ignored:2");
    const layer = (await layers("ignored:2"))[0]!;
    expect([...layer.keys()].sort()).toEqual(["ctx", "ctx/.dockerignore", "ctx/Dockerfile", "ctx/app.txt"]);
  }, 60_000);

  test("multi-stage: COPY --from a stage and from an image; --target stops at a stage", async () => {
    const dir = context("stages", {
      "main.txt": "built\n",
      Dockerfile: [
        `FROM ${base} AS build`,
        "WORKDIR /src",
        "COPY main.txt .",
        "FROM scratch AS runtime",
        "COPY --from=build /src/main.txt /main.txt",
        `COPY --from=${base} /bin/busybox /bin/busybox`,
        "LABEL stage=runtime",
        "FROM runtime AS debug",
        "LABEL stage=debug",
      ].join("\n"),
    });
    const runtime = ok(await build(["--target", "runtime", "-t", "stages:runtime", dir]));
    expect(runtime.stdout).toContain("Step 7/7 : LABEL stage=runtime");
    expect((await inspect("stages:runtime")).Config.Labels).toEqual({ stage: "runtime" });
    const files = await layers("stages:runtime");
    expect(files).toHaveLength(2);
    expect(files[0]!.get("main.txt")?.content).toBe("built\n");
    expect(files[1]!.get("bin/busybox")).toMatchObject({ type: "file", mode: 0o755 });

    ok(await build(["-t", "stages:debug", dir]));
    const debug = await inspect("stages:debug");
    expect(debug.Config.Labels).toEqual({ stage: "debug" });
    expect(debug.RootFS.Layers).toEqual((await inspect("stages:runtime")).RootFS.Layers);

    const missing = await build(["--target", "nope", dir]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain("failed to reach build target nope in Dockerfile");
  }, 60_000);

  test("build args: defaults, overrides, ARG before FROM, redeclared globals, unused ones warned about", async () => {
    const repo = fixtures.busybox.repository;
    const dir = context("args", {
      Dockerfile: ["ARG TAG=nope", `FROM ${repo}:\${TAG}`, "ARG TAG", "ARG GREETING=hi", "ARG UNSET", 'ENV MSG="${GREETING} ${UNSET:-nobody}" FROM_TAG=$TAG'].join("\n"),
    });
    const r = ok(await build(["--build-arg", "TAG=latest", "--build-arg", "GREETING=yo", "--build-arg", "EXTRA=1", "-t", "args:1", dir]));
    expect(r.stdout).toContain("[Warning] One or more build-args [EXTRA] were not consumed");
    expect((await inspect("args:1")).Config.Env).toEqual(expect.arrayContaining(["MSG=yo nobody", "FROM_TAG=latest"]));
    const defaults = await build([dir]);
    expect(defaults.exitCode).not.toBe(0);
    expect(defaults.stdout + defaults.stderr).toContain(`${repo}:nope`);
  }, 60_000);

  test("bad Dockerfiles fail with the file and line; the CLI exits non-zero", async () => {
    const cases: [string, string][] = [
      [`FROM ${base}\nENV A=1\nFOO bar\n`, "Dockerfile:3: unknown instruction: FOO"],
      [`FROM ${base}\nCMD ["a", 'b']\n`, "Dockerfile:2: CMD: invalid JSON array form"],
      [`FROM ${base}\n\nCOPY missing.txt /\n`, "Dockerfile:3: COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt"],
      [`FROM ${base}\nENV X="\${NOPE:?must be set}"\n`, "Dockerfile:2: NOPE: must be set"],
      ["ENV A=1\n", "Dockerfile:1: ENV before the first FROM"],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const dir = context(`bad-${i}`, { Dockerfile: text });
      const r = await build([dir]);
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout + r.stderr).toContain(message);
    }
    const badTag = await build(["-t", "UPPER:case", context("bad-tag", { Dockerfile: "FROM scratch\nLABEL a=b\n" })]);
    expect(badTag.exitCode).not.toBe(0);
    expect(badTag.stderr).toContain("invalid reference format");
  }, 60_000);

  test("a context with ../ entries is refused, nothing lands outside, and the scratch directory is gone", async () => {
    const marker = `escaped-${crypto.randomUUID()}`;
    const tar = rawTar([
      { name: "Dockerfile", body: "FROM scratch\nCOPY x /\n" },
      { name: `../../${marker}`, body: "pwned" },
      { name: "x", body: "x" },
    ]);
    const res = await api("POST", "/build", tar);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("escapes the layer root");
    const viaCli = await build(["-"], tar);
    expect(viaCli.exitCode).not.toBe(0);
    expect(viaCli.stderr).toContain("invalid build context");
    for (const dir of [d.dataRoot, d.dir, dirname(d.dir), join(d.dataRoot, "tmp"), "/"]) expect(existsSync(join(dir, marker))).toBe(false);
    expect(readdirSync(join(d.dataRoot, "tmp"))).toEqual([]);
  }, 60_000);

  test("-f names a Dockerfile inside the context, or outside it", async () => {
    const dir = context("dashf", { "sub/Dockerfile": `FROM ${base}\nCOPY data.txt /data.txt\n`, "data.txt": "data\n" });
    ok(await build(["-f", join(dir, "sub/Dockerfile"), "-t", "dashf:1", dir]));
    expect((await layers("dashf:1")).at(-1)!.get("data.txt")?.content).toBe("data\n");
    const outside = join(work, "outside.Dockerfile");
    writeFileSync(outside, "FROM scratch\nCOPY data.txt /copied.txt\n");
    ok(await build(["-f", outside, "-t", "dashf:2", dir]));
    expect((await layers("dashf:2"))[0]!.has("copied.txt")).toBe(true);
  }, 60_000);

  test("docker build - takes the Dockerfile from stdin", async () => {
    const r = ok(await build(["-t", "stdin:1", "-"], `FROM ${base}\nLABEL from=stdin\n`));
    expect(r.stdout).toContain("Successfully tagged stdin:1");
    expect((await inspect("stdin:1")).Config.Labels).toEqual({ from: "stdin" });
  }, 60_000);

  test("compressed contexts: gzip from docker build --compress, bzip2 and xz from API clients", async () => {
    const dir = context("compressed", { "c.txt": "compressed\n", Dockerfile: "FROM scratch\nCOPY c.txt /c.txt\n" });
    ok(await build(["--compress", "-t", "compressed:gz", dir]));
    expect((await layers("compressed:gz"))[0]!.get("c.txt")?.content).toBe("compressed\n");
    const tar = rawTar([{ name: "Dockerfile", body: "FROM scratch\nCOPY c.txt /c.txt\n" }, { name: "c.txt", body: "squeezed\n" }]);
    for (const tool of ["bzip2", "xz"]) {
      const packed = Bun.spawnSync([tool, "-c"], { stdin: tar }).stdout;
      const res = await api("POST", `/build?t=compressed:${tool}`, packed);
      expect(await res.text()).toContain(`Successfully tagged compressed:${tool}`);
      expect((await layers(`compressed:${tool}`))[0]!.get("c.txt")?.content).toBe("squeezed\n");
    }
  }, 60_000);

  test("-q prints only the image ID; --label lands on the final image", async () => {
    const dir = context("quiet", { Dockerfile: `FROM ${base}\nLABEL a=1\n` });
    const r = ok(await build(["-q", "--label", "extra=yes", "-t", "quiet:1", dir]));
    expect(r.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const image = await inspect("quiet:1");
    expect(image.Id).toBe(r.stdout.trim());
    expect(image.Config.Labels).toEqual({ a: "1", extra: "yes" });
  }, 60_000);

  test("FROM a registry that needs a login: the credentials the CLI sends in X-Registry-Config are used for the pull", async () => {
    const auth = { username: "builder", password: "b-secret" };
    const privateRegistry = await startRegistry({ auth });
    try {
      const images = await pushFixtures(privateRegistry.url, { credentials: auth });
      const dir = context("private", { Dockerfile: `FROM ${images.busybox.reference}\nLABEL private=yes\n` });
      const denied = await build([dir]);
      expect(denied.exitCode).not.toBe(0);
      ok(await docker(d.env, ["login", "-u", auth.username, "--password-stdin", privateRegistry.url], `${auth.password}\n`));
      const r = ok(await build(["-t", "private:1", dir]));
      expect(r.stdout).toContain("latest: Pulling from busybox");
      expect(r.stdout).toContain(`Digest: ${images.busybox.digest}`);
    } finally {
      await privateRegistry.stop();
    }
  }, 60_000);

  test("system df counts the build cache; docker builder prune empties it and removes what only it kept", async () => {
    const dir = context("prune", { "f.txt": "f\n", Dockerfile: `FROM ${base}\nCOPY f.txt /f.txt\nLABEL pruned=maybe\n` });
    ok(await build(["-t", "prune:1", dir]));
    const df = ok(await docker(d.env, ["system", "df", "--format", "{{.Type}} {{.TotalCount}}"])).stdout;
    expect(Number(/Build Cache (\d+)/.exec(df)?.[1])).toBeGreaterThan(0);
    const intermediate = (await inspect("prune:1")).Parent as string;
    ok(await docker(d.env, ["builder", "prune", "-a", "-f"]));
    expect((await docker(d.env, ["image", "inspect", intermediate])).exitCode).not.toBe(0);
    ok(await docker(d.env, ["image", "inspect", "prune:1"]));
    const after = ok(await build(["-t", "prune:1", dir]));
    expect(usingCache(after.stdout)).toBe(0);
  }, 60_000);
});

describe("bunker build", () => {
  test("-t, --label, --build-arg, -f, a directory, and - (stdin); -q prints the ID", async () => {
    const dir = context("ours", { "sub/Dockerfile": `FROM ${base}\nARG V=0\nENV V=$V\nCOPY hello.txt /\n`, "hello.txt": "hi\n", ".dockerignore": "ignored.txt\n", "ignored.txt": "x" });
    const r = ok(await bunker(d.env, ["build", "-t", "ours:1", "--label", "by=bunker", "--build-arg", "V=7", "-f", join(dir, "sub/Dockerfile"), dir]));
    expect(r.stdout).toContain("Step 4/5 : COPY hello.txt /");
    expect(r.stdout).toContain("Successfully tagged ours:1");
    const image = await inspect("ours:1");
    expect(image.Config.Labels).toEqual({ by: "bunker" });
    expect(image.Config.Env).toContain("V=7");
    const quiet = ok(await bunker(d.env, ["build", "-q", "-f", join(dir, "sub/Dockerfile"), "--build-arg", "V=7", "--label", "by=bunker", dir]));
    expect(quiet.stdout.trim()).toBe(image.Id);
    const uncached = ok(await bunker(d.env, ["build", "--no-cache", "-f", join(dir, "sub/Dockerfile"), dir]));
    expect(usingCache(uncached.stdout)).toBe(0);
    const fromStdin = ok(await bunker(d.env, ["build", "-t", "ours:stdin", "-"], `FROM ${base}\nLABEL via=stdin\n`));
    expect(fromStdin.stdout).toContain("Successfully tagged ours:stdin");
    const failed = await bunker(d.env, ["build", "-"], "FROM scratch\nNOPE\n");
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain("Dockerfile:2: unknown instruction: NOPE");
  }, 60_000);
});

describe("RUN", () => {
  test("runs in a container: output streamed, changes committed, ARG/ENV/WORKDIR/USER apply, cached the second time", async () => {
    const dir = context("run", {
      Dockerfile: [
        `FROM ${base}`,
        "ARG WHO=builder",
        "ENV STAGE=one",
        "WORKDIR /work",
        'RUN echo "hello from $WHO in $(pwd) as $(id -u) at $STAGE" && echo made > made.txt && rm /etc/group',
        "USER 1000",
        "RUN id -u > /tmp/uid.txt",
      ].join("\n"),
    });
    const r = ok(await build(["-t", "run:1", dir]));
    expect(r.stdout).toMatch(/ ---> Running in [0-9a-f]{12}\n/);
    expect(r.stdout).toContain("hello from builder in /work as 0 at one");
    expect(r.stdout).toMatch(/Removing intermediate container [0-9a-f]{12}\n/);
    const history = ok(await docker(d.env, ["history", "--no-trunc", "--format", "{{.CreatedBy}}", "run:1"])).stdout;
    expect(history).toContain("|1 WHO=builder /bin/sh -c echo");
    const files = await layers("run:1");
    const runLayer = files.at(-2)!;
    expect(runLayer.get("work/made.txt")?.content).toBe("made\n");
    expect(runLayer.get("etc/.wh.group")).toBeDefined();
    expect(files.at(-1)!.get("tmp/uid.txt")?.content).toBe("1000\n");
    const again = ok(await build(["-t", "run:1", dir]));
    expect(usingCache(again.stdout)).toBe(6);
    expect(again.stdout).not.toContain("Running in");
  }, 120_000);

  test("a failing RUN reports the command, its exit code and its line; the CLI exits with that code; no container is left", async () => {
    const before = ok(await docker(d.env, ["ps", "-aq"])).stdout;
    const dir = context("run-fail", { Dockerfile: `FROM ${base}\nRUN echo partial output\nRUN exit 3\n` });
    const r = await build([dir]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toContain("partial output");
    expect(r.stderr).toContain("Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3");
    expect(ok(await docker(d.env, ["ps", "-aq"])).stdout).toBe(before);
  }, 120_000);

  test("the image built with every instruction runs with its entrypoint, env, user and workdir, and holds its files", async () => {
    const r = ok(await docker(d.env, ["run", "--rm", "every:1"]));
    expect(r.stdout.trim()).toBe("hello the world rev=r1 args=serve user=1000 cwd=/app");
    const stat = ok(await docker(d.env, ["run", "--rm", "--entrypoint", "stat", "every:1", "-c", "%n %u:%g %a", "/app/run.sh", "/etc/demo/app.conf", "/opt/pkg/file.txt"]));
    expect(stat.stdout.trim().split("\n")).toEqual(["/app/run.sh 1000:1000 750", "/etc/demo/app.conf 0:0 644", "/opt/pkg/file.txt 33:33 644"]);
  }, 60_000);
});
