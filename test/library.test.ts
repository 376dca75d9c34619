/**
 * The library (`import { createEngine } from "bunker"`): an engine in this very process, no daemon, no HTTP.
 * Pulls the fixture image from a registry on 127.0.0.1, runs, reads logs, execs, closes — and checks that an
 * ephemeral engine leaves nothing on the host. Written in TypeScript against the package's exports, so
 * `tsc --noEmit -p .` checks the public API's types as used here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ConflictError, createEngine, RunStepFailed, type BunkerEngine, type ExecResult, type LogLine, type MountOption, type PullProgress, type RunResult } from "bunker";
import { pushFixtures } from "./fixtures/images";
import { startFlakyProxy, type RunningFlakyProxy } from "./fixtures/flaky-proxy";
import { startRegistry, type RunningRegistry } from "./fixtures/registry";
import { startDaemon, stopDaemon, type TestDaemon } from "./helpers/daemon";
import { pushBusyboxAs } from "./helpers/fixture-copies";
import { emptyTraces, keeperPids, settledLeftovers, vethsOf, type EngineTraces } from "./helpers/host-traces";

let registry: RunningRegistry;
let busybox: string;

beforeAll(async () => {
  registry = await startRegistry();
  busybox = (await pushFixtures(registry.url)).busybox.reference;
});

afterAll(async () => {
  await registry?.stop();
});

/** What `engine` has made so far that must be gone once it is closed. */
function tracesOf(engine: BunkerEngine, containerIds: string[]): EngineTraces {
  return {
    ...emptyTraces(),
    dirs: [dirname(engine.dataRoot)],
    containerIds,
    bridges: [engine.bridge],
    subnets: engine.networks.list().flatMap((n) => (n.subnet ? [n.subnet] : [])),
    veths: vethsOf(engine.bridge),
    pids: [...containerIds.map((id) => engine.inspect(id).pid).filter((pid) => pid > 0), ...keeperPids(engine.dataRoot)],
  };
}

async function collectLogs(lines: AsyncIterable<LogLine>, limit = Infinity): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of lines) {
    out.push(line);
    if (out.length >= limit) break;
  }
  return out;
}

describe("library engine", () => {
  test("pull, run (stdout, exit 3), logs, exec into a running container, close: outputs, codes, and nothing left", async () => {
    const engine = await createEngine({ ephemeral: true });
    let traces = emptyTraces();
    try {
      const progress: PullProgress[] = [];
      const pulled = await engine.pull(busybox, { onProgress: (p) => progress.push(p) });
      expect(pulled.repoTags).toContain(busybox);
      expect(pulled.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(progress.some((p) => p.status === "Pull complete")).toBe(true);
      expect(engine.images().map((i) => i.id)).toEqual([pulled.id]);

      const run: RunResult = await engine.run(busybox, ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
      expect(run).toMatchObject({ exitCode: 3, stdout: "to-stdout\n", stderr: "to-stderr\n" });
      expect(engine.inspect(run.id)).toMatchObject({ status: "exited", exitCode: 3, running: false });
      expect(await collectLogs(engine.logs(run.id))).toEqual([
        { stream: "stdout", text: "to-stdout\n" },
        { stream: "stderr", text: "to-stderr\n" },
      ]);
      expect(await collectLogs(engine.logs(run.id, { stderr: false }))).toEqual([{ stream: "stdout", text: "to-stdout\n" }]);

      const stdinRun = await engine.run(busybox, ["sh", "-c", "tr a-z A-Z; exit 0"], { stdin: "piped through\n", remove: true });
      expect(stdinRun).toMatchObject({ exitCode: 0, stdout: "PIPED THROUGH\n", stderr: "" });
      expect(engine.containers().map((c) => c.id)).not.toContain(stdinRun.id);

      const id = await engine.create({ image: busybox, cmd: ["sh", "-c", "echo ready; exec sleep 600"], env: { GREETING: "hello" }, workdir: "/tmp" });
      await engine.start(id);
      const info = engine.inspect(id);
      expect(info.running).toBe(true);
      expect(info.ipAddress).toMatch(/^10\.2\d\d\.\d+\.\d+$/);
      expect(await collectLogs(engine.logs(id, { follow: true }), 1)).toEqual([{ stream: "stdout", text: "ready\n" }]);

      const exec: ExecResult = await engine.exec(id, ["sh", "-c", 'echo "$GREETING from $(pwd)"; echo warning >&2; exit 4']);
      expect(exec).toEqual({ exitCode: 4, stdout: "hello from /tmp\n", stderr: "warning\n" });
      expect(await engine.exec(id, ["cat"], { stdin: "exec stdin" })).toEqual({ exitCode: 0, stdout: "exec stdin", stderr: "" });
      expect((await engine.exec(id, ["sh", "-c", "id -u"], { user: "1000" })).stdout).toBe("1000\n");
      const missing = await engine.exec(id, ["no-such-command"]);
      expect(missing.exitCode).toBe(127);
      expect(missing.stderr).toContain("no-such-command");

      traces = tracesOf(engine, [run.id, id]);
      expect(traces.veths.length).toBeGreaterThan(0);
      expect(traces.pids.length).toBe(2); // the sleeping container and the keeper
    } finally {
      await engine.close();
    }
    expect(await settledLeftovers(traces)).toEqual([]);
  });

  test("a start failure is an error with nothing left waiting; stop, kill, wait and remove", async () => {
    await using engine = await createEngine({ ephemeral: true, bridge: "none" });
    await expect(engine.run(busybox, ["/no/such/binary"])).rejects.toThrow(/no\/such\/binary/);
    const id = await engine.create({ image: busybox, cmd: ["sleep", "600"], network: "none" });
    await engine.start(id);
    await engine.start(id); // already running: not an error
    await engine.stop(id, { timeout: 0 });
    expect(await engine.wait(id)).toBe(137);
    await engine.start(id);
    await engine.kill(id, "SIGKILL");
    expect(await engine.wait(id)).toBe(137);
    await engine.remove(id);
    expect(engine.containers().map((c) => c.id)).not.toContain(id);
  });

  test("build from a context directory, then run the image; a failing RUN step carries its exit code", async () => {
    const context = mkdtempSync(join(tmpdir(), "bunker-library-build-"));
    try {
      await using engine = await createEngine({ ephemeral: true, bridge: "none" });
      writeFileSync(join(context, "Dockerfile"), `FROM ${busybox}\nCOPY greeting.txt /greeting.txt\nRUN echo built >> /greeting.txt\nCMD ["cat", "/greeting.txt"]\n`);
      writeFileSync(join(context, "greeting.txt"), "copied\n");
      const output: string[] = [];
      const built = await engine.build(context, { tags: ["library-test:ci"], network: "none", onOutput: (text) => output.push(text) });
      expect(built.imageId).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(output.join("")).toContain("Step 3/4 : RUN echo built >> /greeting.txt");
      expect(await engine.run("library-test:ci", [], { network: "none", pull: "never" })).toMatchObject({ exitCode: 0, stdout: "copied\nbuilt\n" });

      writeFileSync(join(context, "Dockerfile"), `FROM ${busybox}\nRUN exit 9\n`);
      const failed = engine.build(context, { network: "none" });
      await expect(failed).rejects.toBeInstanceOf(RunStepFailed);
      await expect(failed).rejects.toMatchObject({ code: 9 });
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });

  describe("pull-through mirror", () => {
    let proxy: RunningFlakyProxy;
    beforeAll(async () => {
      await pushBusyboxAs(registry.url, "library/busybox");
      // A pass-through proxy (no cuts) in front of the registry: it records what is asked of the mirror.
      proxy = await startFlakyProxy({ target: registry.url, mode: "cut", times: 0 });
    });
    afterAll(() => proxy?.stop());

    test("docker.io pulls go to the registry mirror (and only there)", async () => {
      await using engine = await createEngine({ ephemeral: true, bridge: "none", registryMirrors: [`http://${proxy.url}`] });
      const pulled = await engine.pull("busybox");
      expect(pulled.repoTags).toEqual(["busybox:latest"]);
      expect(proxy.requests).toContain("GET /v2/library/busybox/manifests/latest");
      expect(proxy.requests.filter((r) => r.startsWith("GET /v2/library/busybox/blobs/sha256:")).length).toBe(2); // config and the layer
      // It came from the mirror, so it runs.
      expect(await engine.run("busybox", ["echo", "from the mirror"], { network: "none", pull: "never" })).toMatchObject({ exitCode: 0, stdout: "from the mirror\n" });
    });
  });

  describe("data roots", () => {
    let dir: string;
    let daemon: TestDaemon | undefined;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "bunker-library-"));
    });
    afterAll(async () => {
      await stopDaemon(daemon);
      rmSync(dir, { recursive: true, force: true });
    });

    test("one engine per data root: a daemon or another engine holding it is a clear error", async () => {
      daemon = await startDaemon({ dataRoot: join(dir, "daemon-root") });
      const owned = createEngine({ dataRoot: daemon.dataRoot, bridge: "none" });
      await expect(owned).rejects.toBeInstanceOf(ConflictError);
      await expect(owned).rejects.toThrow(`another bunker daemon (pid ${daemon.proc.pid}) is already using data root ${daemon.dataRoot}`);

      await using first = await createEngine({ dataRoot: join(dir, "engine-root"), bridge: "none", liveRestore: false });
      await expect(createEngine({ dataRoot: first.dataRoot, bridge: "none" })).rejects.toBeInstanceOf(ConflictError);
    });

    test("cleanup: true removes the containers, networks and volumes the engine created, and keeps images", async () => {
      const dataRoot = join(dir, "kept-root");
      const network = `libnet${process.pid}`;
      {
        await using engine = await createEngine({ dataRoot, bridge: "none", cleanup: true, liveRestore: false });
        await engine.pull(busybox);
        const net = await engine.networks.create(network, { bridgeName: `bkl${process.pid}`.slice(0, 15) });
        expect(net).toMatchObject({ name: network, driver: "bridge" });
        const volume = await engine.volumes.create("libvol");
        expect(volume.mountpoint).toBe(join(dataRoot, "volumes", "libvol", "_data"));
        const mounts: MountOption[] = [
          { type: "volume", source: "libvol", target: "/data" },
          { type: "volume", target: "/anonymous" },
          { type: "tmpfs", target: "/scratch" },
        ];
        const id = await engine.create({ image: busybox, cmd: ["sleep", "600"], network, mounts });
        await engine.start(id);
        expect((await engine.exec(id, ["sh", "-c", "echo kept > /data/f; cat /data/f"])).stdout).toBe("kept\n");
        expect(engine.volumes.list().length).toBe(2); // the named one and the anonymous one
      }
      await using again = await createEngine({ dataRoot, bridge: "none", liveRestore: false });
      expect(again.containers()).toEqual([]);
      expect(again.networks.list().map((n) => n.name).sort()).toEqual(["host", "none"]);
      expect(again.volumes.list()).toEqual([]);
      expect(again.images().map((i) => i.repoTags[0])).toEqual([busybox]);
    });
  });

  test.each(["SIGTERM", "SIGINT"] as const)("%s ends a process embedding an ephemeral engine and leaves nothing", async (signal) => {
    const child = Bun.spawn(["bun", join(import.meta.dir, "helpers", "library-engine-script.ts"), busybox], { stdout: "pipe", stderr: "pipe" });
    let traces = emptyTraces();
    try {
      const reader = child.stdout.getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the script ended early: ${await new Response(child.stderr).text()}`);
        text += new TextDecoder().decode(value);
      }
      reader.releaseLock();
      traces = JSON.parse(text.slice(0, text.indexOf("\n"))) as EngineTraces;
      expect(traces.pids.length).toBe(2);
      traces.pids.push(child.pid);
      child.kill(signal);
      expect(await child.exited).toBe(signal === "SIGTERM" ? 143 : 130);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    expect(await settledLeftovers(traces)).toEqual([]);
  });
});
