/**
 * Ephemeral engines (dist/bunker): `bunker daemon --ephemeral` side by side, each with its own socket, data root,
 * bridge and subnet, running containers with published ports; after SIGTERM/SIGINT each leaves nothing on the
 * host. And the one-shot `bunker run --ephemeral IMAGE CMD…`: no daemon, the container's exit code, live output,
 * a clean host after a normal end and after SIGINT in the middle of a run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { MNT_DETACH, MS, mount, umount } from "../drivers/libc/libc";
import { DEFAULTS, type DaemonConfig } from "../src/daemon/config";
import { applyEphemeral, removeEphemeralDir } from "../src/daemon/ephemeral";
import { startFlakyProxy } from "./fixtures/flaky-proxy";
import { pushFixtures } from "./fixtures/images";
import { startRegistry, type RunningRegistry } from "./fixtures/registry";
import { docker, type RunResult } from "./helpers/cli";
import { BUNKER_BIN, requireBinary, waitForSocket } from "./helpers/daemon";
import { pushBusyboxAs } from "./helpers/fixture-copies";
import { emptyTraces, keeperPids, mountPoints, settledLeftovers, vethsOf, type EngineTraces } from "./helpers/host-traces";
import { settle, StreamText } from "./helpers/wait";

/** No daemon may be involved in a one-shot: the CLI is pointed at a socket that does not exist. */
const NO_DAEMON = { BUNKER_HOST: "unix:///nonexistent/bunker.sock", DOCKER_HOST: "unix:///nonexistent/bunker.sock" };

let registry: RunningRegistry;
let busybox: string;

beforeAll(async () => {
  requireBinary();
  registry = await startRegistry();
  busybox = (await pushFixtures(registry.url)).busybox.reference;
});

afterAll(async () => {
  await registry?.stop();
});

/**
 * A one-shot run with a temporary directory of its own (TMPDIR): the ephemeral directory it makes is found there,
 * not among those of other engines the test files running in parallel make at the same time.
 */
interface OneShot {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  tmp: string;
  /** The ephemeral directories in `tmp`. */
  dirs(): string[];
}

function oneShot(args: string[]): OneShot {
  const tmp = mkdtempSync(join(tmpdir(), "bunker-ephtest-tmp-"));
  const proc = Bun.spawn([BUNKER_BIN, "run", ...args], { env: { ...process.env, ...NO_DAEMON, TMPDIR: tmp }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  return { proc, tmp, dirs: () => readdirSync(tmp).filter((n) => n.startsWith("bunker-ephemeral-")).map((n) => join(tmp, n)) };
}

/** A container script that prints its default gateway, `gateway A.B.C.D`: the address of its engine's bridge. */
const PRINT_GATEWAY = "ip route | awk '/^default/ {print \"gateway \" $3}'";

/** The host's links holding `address` (an engine's bridge holds its network's gateway address). */
function linksWithAddress(address: string): string[] {
  return Bun.spawnSync(["ip", "-o", "-4", "addr", "show"])
    .stdout.toString()
    .split("\n")
    .filter((line) => line.includes(` inet ${address}/`))
    .map((line) => line.split(/\s+/)[1]!);
}

function gatewayIn(text: string): string {
  const gateway = /gateway (\d+\.\d+\.\d+\.\d+)/.exec(text)?.[1];
  if (!gateway) throw new Error(`no gateway printed: ${text}`);
  return gateway;
}

interface EphemeralDaemon {
  proc: Subprocess;
  socket: string;
  dir: string;
  docker(args: string[]): Promise<RunResult>;
}

async function startEphemeralDaemon(logFile: string): Promise<EphemeralDaemon> {
  const proc = Bun.spawn([BUNKER_BIN, "daemon", "--ephemeral", "--log-level", "debug"], { stdin: "ignore", stdout: "pipe", stderr: Bun.file(logFile) });
  const host = /BUNKER_HOST=unix:\/\/(\S+)\n/.exec(await new StreamText(proc.stdout).until(/BUNKER_HOST=\S+\n/))![1]!;
  const dir = dirname(host);
  await waitForSocket(host, proc, logFile);
  const env = { DOCKER_HOST: `unix://${host}`, DOCKER_CONFIG: join(dir, "docker-config") };
  return { proc, socket: host, dir, docker: (args) => docker(env, args, undefined, 60_000) };
}

async function ok(result: Promise<RunResult>): Promise<string> {
  const r = await result;
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A web server on a published port, a short-lived container, and what the daemon made for them. */
async function exercise(d: EphemeralDaemon, name: string): Promise<{ traces: EngineTraces; bridge: string; subnet: string }> {
  await ok(d.docker(["pull", busybox]));
  // sh stays PID 1 and ends on SIGTERM: the daemon's teardown need not wait out a stop timeout.
  const web = `mkdir /www && echo ${name} > /www/index.html && httpd -f -p 80 -h /www & trap "exit 0" TERM; wait`;
  const id = await ok(d.docker(["run", "-d", "-p", "80", busybox, "sh", "-c", web]));
  const port = Number((await ok(d.docker(["port", id, "80/tcp"]))).split("\n")[0]!.split(":").pop());
  let body = "";
  await settle(async () => (body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => "")) === `${name}\n`);
  expect(body).toBe(`${name}\n`);
  expect(await ok(d.docker(["run", "--rm", busybox, "echo", `hi from ${name}`]))).toBe(`hi from ${name}`);
  const [bridge, subnet] = (await ok(d.docker(["network", "inspect", "-f", '{{index .Options "com.docker.network.bridge.name"}} {{(index .IPAM.Config 0).Subnet}}', "bridge"]))).split(" ") as [string, string];
  // The --rm container's veth is retired a moment after its removal (see NetworkService.retireVeth).
  await settle(() => vethsOf(bridge).length === 1);
  const pid = Number(await ok(d.docker(["inspect", "-f", "{{.State.Pid}}", id])));
  const traces: EngineTraces = {
    dirs: [d.dir],
    containerIds: [id],
    bridges: [bridge],
    subnets: [subnet],
    veths: vethsOf(bridge),
    pids: [d.proc.pid, pid, ...keeperPids(join(d.dir, "root"))],
  };
  expect(traces.veths.length).toBe(1);
  expect(traces.pids.length).toBe(3);
  return { traces, bridge, subnet };
}

describe("ephemeral directories", () => {
  test("a temporary directory only for the paths not given, always handed back for removal", () => {
    const config = (): DaemonConfig => ({ ...DEFAULTS, ephemeral: true });
    const none = { hosts: false, dataRoot: false, pidfile: false, bridge: false, bip: false };
    const all = { hosts: true, dataRoot: true, pidfile: true, bridge: true, bip: true };

    const fresh = config();
    const dir = applyEphemeral(fresh, none, "10.200.0.0/24 dev x\n");
    try {
      expect(dir).toStartWith(join(tmpdir(), "bunker-ephemeral-"));
      expect(fresh).toMatchObject({ dataRoot: join(dir!, "root"), hosts: [`unix://${join(dir!, "bunker.sock")}`], pidfile: join(dir!, "bunker.pid") });
      expect(fresh.bridge).toMatch(/^bke[0-9a-f]{10}$/);
      expect(fresh.bip).toMatch(/^10\.2[0-4]\d\.\d+\.1\/24$/);
    } finally {
      rmSync(dir!, { recursive: true, force: true });
    }

    const ownRoot = config();
    const socketDir = applyEphemeral(ownRoot, { ...none, dataRoot: true }, "");
    try {
      expect(socketDir).not.toBeNull();
      expect(ownRoot.dataRoot).toBe(DEFAULTS.dataRoot);
      expect(ownRoot.hosts).toEqual([`unix://${join(socketDir!, "bunker.sock")}`]);
    } finally {
      rmSync(socketDir!, { recursive: true, force: true });
    }
    expect(applyEphemeral(config(), all, "")).toBeNull();
  });

  test("removal detaches what is still mounted inside first: a bind-mounted host directory keeps its files", () => {
    const host = mkdtempSync(join(tmpdir(), "bunker-ephtest-host-"));
    const dir = mkdtempSync(join(tmpdir(), "bunker-ephtest-dir-"));
    try {
      writeFileSync(join(host, "precious"), "keep me");
      mkdirSync(join(dir, "root", "bound"), { recursive: true });
      mkdirSync(join(dir, "root", "tmpfs"), { recursive: true });
      mount(host, join(dir, "root", "bound"), null, MS.BIND);
      mount("tmpfs", join(dir, "root", "tmpfs"), "tmpfs", 0);
      removeEphemeralDir(dir);
      expect(existsSync(dir)).toBe(false);
      expect(mountPoints().filter((m) => m.startsWith(dir))).toEqual([]);
      expect(readFileSync(join(host, "precious"), "utf8")).toBe("keep me");
    } finally {
      for (const m of mountPoints().filter((p) => p.startsWith(`${dir}/`)).reverse()) umount(m, MNT_DETACH);
      rmSync(dir, { recursive: true, force: true });
      rmSync(host, { recursive: true, force: true });
    }
  });
});

describe("bunker daemon --ephemeral", () => {
  test("two at once: own sockets, bridges and subnets, published ports; SIGTERM and SIGINT leave nothing", async () => {
    const logs = mkdtempSync(join(tmpdir(), "bunker-ephtest-"));
    const daemons: EphemeralDaemon[] = [];
    try {
      daemons.push(await startEphemeralDaemon(join(logs, "a.log")), await startEphemeralDaemon(join(logs, "b.log")));
      const [a, b] = daemons as [EphemeralDaemon, EphemeralDaemon];
      const [ea, eb] = await Promise.all([exercise(a, "engine-a"), exercise(b, "engine-b")]);
      expect(a.socket).not.toBe(b.socket);
      expect(ea.bridge).not.toBe(eb.bridge);
      expect(ea.subnet).not.toBe(eb.subnet);

      a.proc.kill("SIGTERM");
      b.proc.kill("SIGINT");
      expect(await a.proc.exited).toBe(0);
      expect(await b.proc.exited).toBe(0);
      expect(await settledLeftovers(ea.traces)).toEqual([]);
      expect(await settledLeftovers(eb.traces)).toEqual([]);
    } catch (err) {
      for (const name of readdirSync(logs)) console.error(`----- ${name}\n${readFileSync(join(logs, name), "utf8").slice(-4000)}`);
      throw err;
    } finally {
      for (const d of daemons) if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
      rmSync(logs, { recursive: true, force: true });
    }
  });
});

describe("bunker run --ephemeral", () => {
  test("no daemon: prints the output, exits with the container's code, leaves the host clean", async () => {
    const started = performance.now();
    const run = oneShot(["--ephemeral", busybox, "sh", "-c", `${PRINT_GATEWAY} >&2; echo hi; exit 7`]);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(run.proc.stdout).text(), new Response(run.proc.stderr).text(), run.proc.exited]);
      console.log(`bunker run --ephemeral (pull included) took ${Math.round(performance.now() - started)} ms`);
      expect({ stdout, code }).toEqual({ stdout: "hi\n", code: 7 });
      expect(stderr).toContain(`Unable to find image '${busybox}' locally`);
      expect(run.dirs()).toEqual([]);
      expect(linksWithAddress(gatewayIn(stderr))).toEqual([]); // its bridge is gone
      expect(mountPoints().filter((m) => m.startsWith(run.tmp))).toEqual([]);
    } finally {
      removeEphemeralDir(run.tmp);
    }
  });

  test("engine flags: --registry-mirror serves docker.io pulls, and only with --ephemeral; a command that cannot run is 127; stdin with -i", async () => {
    const run = (args: string[], stdin?: string) =>
      new Promise<RunResult>((resolve) => {
        const proc = Bun.spawn([BUNKER_BIN, "run", ...args], { env: { ...process.env, ...NO_DAEMON }, stdin: stdin === undefined ? "ignore" : new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
        void Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(([out, err, exitCode]) => resolve({ stdout: out, stderr: err, exitCode }));
      });
    await pushBusyboxAs(registry.url, "library/busybox");
    const mirror = await startFlakyProxy({ target: registry.url, mode: "cut", times: 0 });
    try {
      const mirrored = await run(["--ephemeral", "-q", "--registry-mirror", `http://${mirror.url}`, "busybox", "echo", "from the mirror"]);
      expect(mirrored).toMatchObject({ exitCode: 0, stdout: "from the mirror\n" });
      expect(mirror.requests).toContain("GET /v2/library/busybox/manifests/latest");
    } finally {
      mirror.stop();
    }
    const stray = await run(["--registry-mirror", "http://127.0.0.1:1", busybox, "true"]);
    expect(stray.exitCode).toBe(125);
    expect(stray.stderr).toContain("--registry-mirror configures the engine of `run --ephemeral`");
    const missing = await run(["--ephemeral", "-q", busybox, "/no/such/binary"]);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain("/no/such/binary");
    const piped = await run(["--ephemeral", "-q", "-i", busybox, "tr", "a-z", "A-Z"], "shout\n");
    expect(piped).toMatchObject({ exitCode: 0, stdout: "SHOUT\n" });
  });

  test("SIGINT in the middle of a run tears everything down", async () => {
    const run = oneShot(["--ephemeral", "-q", busybox, "sh", "-c", `grep -o 'bunker/[0-9a-f]*' /proc/self/cgroup | head -1; ${PRINT_GATEWAY}; echo started; exec sleep 600`]);
    const { proc } = run;
    let traces = emptyTraces();
    try {
      const out = await new StreamText(proc.stdout).until(/started\n/);
      const id = /bunker\/([0-9a-f]{64})/.exec(out)?.[1];
      expect(id).toBeDefined();
      const [dir] = run.dirs();
      const [bridge] = linksWithAddress(gatewayIn(out));
      expect(dir).toBeDefined();
      expect(bridge).toMatch(/^bke[0-9a-f]{10}$/);
      const subnet = /inet (\d+\.\d+\.\d+)\.\d+\/(\d+)/.exec(Bun.spawnSync(["ip", "-4", "-o", "addr", "show", bridge!]).stdout.toString());
      traces = {
        dirs: [dir!],
        containerIds: [id!],
        bridges: [bridge!],
        subnets: subnet ? [`${subnet[1]}.0/${subnet[2]}`] : [],
        veths: vethsOf(bridge!),
        pids: [proc.pid, ...keeperPids(join(dir!, "root"))],
      };
      expect(traces.veths.length).toBe(1);
      expect(traces.pids.length).toBe(2);
      expect(existsSync(join(dir!, "root", "containers", id!))).toBe(true);
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(130);
      expect(await settledLeftovers(traces)).toEqual([]);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(traces.dirs[0]!);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
      removeEphemeralDir(run.tmp);
    }
  });
});
