/**
 * Containers outlive the daemon: their processes are the keeper's children, so a `kill -9` or a SIGTERM of the
 * daemon leaves them running, logging and holding their stdin, and the next daemon adopts them (state, attach,
 * exec, logs, restart policy, published ports, DNS). `--live-restore=false` stops them at shutdown like docker;
 * `--ephemeral` leaves nothing behind. Also prints the re-adoption time and the keeper's PSS per container with
 * 20 running containers.
 * Run: bun run build.ts && bun test test/live-restore.test.ts (as root; about a minute)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { docker, DOCKER_BIN, dockerUntil, type RunResult } from "./helpers/cli";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { isRunning, keeperPids, startDaemon, stopDaemon, type DaemonOptions, type TestDaemon } from "./helpers/daemon";
import { eventually, StreamText } from "./helpers/wait";

let e: ContainerEnv;
/** Daemons other than e's (their own data roots), stopped in afterAll should a test fail half-way. */
const extra: TestDaemon[] = [];

beforeAll(async () => {
  e = await startContainerEnv({ liveRestore: true });
}, 120_000);

afterAll(async () => {
  for (const d of extra) await stopDaemon(d);
  await stopContainerEnv(e);
}, 120_000);

interface Engine {
  daemon: TestDaemon;
  docker(args: string[], stdin?: string, timeoutMs?: number): Promise<RunResult>;
}

/** Another daemon (own data root and socket) with busybox pulled from e's registry. */
async function engine(options: DaemonOptions): Promise<Engine> {
  const daemon = await startDaemon(options);
  extra.push(daemon);
  const run = (args: string[], stdin?: string, timeoutMs?: number) => docker(daemon.env, args, stdin, timeoutMs);
  const pulled = await run(["pull", e.busybox]);
  if (pulled.exitCode !== 0) throw new Error(`docker pull failed: ${pulled.stderr}`);
  return { daemon, docker: run };
}

async function retire(x: Engine): Promise<void> {
  extra.splice(extra.indexOf(x.daemon), 1);
  await stopDaemon(x.daemon);
}

async function state(x: Pick<Engine, "docker">, ref: string): Promise<Record<string, any>> {
  const r = await x.docker(["inspect", ref]);
  if (r.exitCode !== 0) throw new Error(`inspect ${ref}: ${r.stderr}`);
  return JSON.parse(r.stdout)[0];
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** [fd, target] of a process's open files. */
function openFds(pid: number): [string, string][] {
  return readdirSync(`/proc/${pid}/fd`).sort().map((fd) => {
    try {
      return [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [fd, "?"];
    }
  });
}

const mountsUnder = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(dir));

function cgroupDirsOf(id: string): string[] {
  return Bun.spawnSync(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-type", "d", "-name", id]).stdout.toString().split("\n").filter(Boolean);
}

/** `docker logs -t` lines as [ms since the epoch, text]. */
async function timedLogs(ref: string): Promise<[number, string][]> {
  const out = (await e.docker(["logs", "-t", ref])).stdout;
  return out.split("\n").filter(Boolean).map((l) => [Date.parse(l.slice(0, l.indexOf(" "))), l.slice(l.indexOf(" ") + 1)]);
}

/**
 * The json-file log as the keeper writes it, readable while no daemon runs: [ms since the epoch, text] per line.
 * The keeper may be writing the last line right now: one that is not whole yet is left out.
 */
function logOnDisk(logPath: string): [number, string][] {
  return readFileSync(logPath, "utf8")
    .split("\n")
    .slice(0, -1)
    .map((line) => JSON.parse(line) as { log: string; time: string })
    .map(({ log, time }) => [Date.parse(time), log.replace(/\n$/, "")]);
}

const between = (lines: [number, string][], fromMs: number, untilMs: number, text = /./) =>
  lines.filter(([t, line]) => t > fromMs && t < untilMs && text.test(line)).length;

/** A docker CLI process we talk to (attach): read its output until a pattern shows up, write to its stdin. */
class Session {
  private readonly proc: Subprocess<"pipe", "pipe", "pipe">;
  private readonly output: StreamText;

  constructor(env: Record<string, string>, args: string[]) {
    this.proc = Bun.spawn([DOCKER_BIN, ...args], { env: { ...process.env, ...env }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.output = new StreamText(this.proc.stdout);
  }

  write(data: string): void {
    this.proc.stdin.write(data);
    void this.proc.stdin.flush();
  }

  async readUntil(pattern: RegExp): Promise<string> {
    try {
      return await this.output.until(pattern);
    } catch (err) {
      throw new Error(`${(err as Error).message}; stderr: ${await this.stderr()}`);
    }
  }

  /** SIGKILL, which the CLI cannot proxy to the container (it runs with --sig-proxy=false anyway). */
  async end(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }

  private async stderr(): Promise<string> {
    this.proc.kill("SIGKILL");
    return new Response(this.proc.stderr).text();
  }
}

/** Attach with stdin, send a line and read its echo back (the container is `cat`). */
async function echoThroughAttach(ref: string, line: string): Promise<void> {
  const session = new Session(e.daemon.env, ["attach", "--sig-proxy=false", ref]);
  try {
    // The CLI sends its input once attached, and the daemon passes it on once the output reaches the attach:
    // the echo must come back through this attach.
    session.write(`${line}\n`);
    expect(await session.readUntil(new RegExp(`${line}\\n`))).toContain(line);
  } finally {
    await session.end();
  }
}

describe("kill -9 of the daemon", () => {
  test("every kind of container survives; the next daemon adopts them", async () => {
    const B = e.busybox;
    for (const args of [
      ["--name", "ticker", B, "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"],
      ["-i", "--name", "reader", B, "cat"],
      ["-t", "--name", "tty", B, "sh", "-c", "i=0; while :; do i=$((i+1)); echo t$i; sleep 0.3; done"],
      ["--restart", "always", "--name", "always", B, "sleep", "300"],
      ["--restart", "always", "--name", "always-dies", B, "sleep", "300"],
    ]) {
      const r = await e.docker(["run", "-d", ...args]);
      expect(r.exitCode).toBe(0);
    }
    await echoThroughAttach("reader", "before-crash");
    // Ends with 7 once /go exists, which the test creates from the host while no daemon runs.
    expect((await e.docker(["run", "-d", "--name", "exit7", B, "sh", "-c", "while [ ! -e /go ]; do sleep 0.1; done; exit 7"])).exitCode).toBe(0);
    const exit7 = await state(e, "exit7");
    const logPaths = { ticker: (await state(e, "ticker")).LogPath as string, tty: (await state(e, "tty")).LogPath as string };

    const names = ["ticker", "reader", "tty", "always", "always-dies"];
    const pids: Record<string, number> = {};
    for (const n of names) pids[n] = (await state(e, n)).State.Pid;
    const [keeper] = keeperPids(e.daemon.dataRoot);
    expect(keeper).toBeGreaterThan(0);
    for (const n of names) {
      // The keeper's children, holding nothing of the daemon: stdio only.
      expect(parentOf(pids[n]!)).toBe(keeper!);
      expect({ n, fds: openFds(pids[n]!) }).toEqual({ n, fds: openFds(pids[n]!).filter(([fd]) => Number(fd) <= 2) });
      expect(openFds(pids[n]!).map(([fd]) => fd)).toEqual(["0", "1", "2"]);
    }

    await e.daemon.kill9();
    const downFromMs = Date.now();
    // While no daemon runs: one container dies (its policy must bring it back), exit7 ends by itself, and the
    // others keep logging.
    process.kill(pids["always-dies"]!, "SIGKILL");
    const goAtMs = Date.now();
    writeFileSync(join(e.daemon.dataRoot, "containers", exit7.Id, "rootfs", "go"), "");
    // The keeper records the exit (code and time) in an exit file once it has reaped the process.
    const exitFiles = () => readdirSync(join(e.daemon.dataRoot, "keeper")).filter((gen) => existsSync(join(e.daemon.dataRoot, "keeper", gen, `${exit7.Id}.exit`)));
    await eventually(() => exitFiles().length > 0, "exit7 to end while no daemon runs");
    const exit7GoneMs = Date.now();
    await eventually(
      () => between(logOnDisk(logPaths.ticker), downFromMs, Date.now()) > 5 && between(logOnDisk(logPaths.tty), downFromMs, Date.now(), /^t\d+\r?$/) > 3,
      "ticker and tty to log while no daemon runs",
    );
    expect(isRunning(keeper!)).toBe(true);
    for (const n of ["ticker", "reader", "tty", "always"]) expect(isRunning(pids[n]!)).toBe(true);

    const downUntilMs = Date.now();
    await e.daemon.restart();
    // Listed running as soon as the daemon answers (always-dies is started a moment later, in the background).
    const ps = (await e.docker(["ps", "--format", "{{.Names}}"])).stdout.split("\n").filter((n) => n && n !== "always-dies").sort();
    expect(ps).toEqual(["always", "reader", "ticker", "tty"]);
    for (const n of ["ticker", "reader", "tty", "always"]) {
      expect((await state(e, n)).State).toMatchObject({ Status: "running", Running: true, Pid: pids[n] });
    }
    // Restarted by the new daemon because it had stopped, and only that one.
    await eventually(async () => (await state(e, "always-dies")).State.Running === true, "always-dies to be restarted");
    const dies = await state(e, "always-dies");
    expect(dies.State.Pid).not.toBe(pids["always-dies"]);
    expect(dies.RestartCount).toBe(1);

    // The exit while no daemon ran: its real code and time.
    const exited = await state(e, "exit7");
    expect(exited.State).toMatchObject({ Status: "exited", Running: false, ExitCode: 7, Error: "" });
    const finishedMs = Date.parse(exited.State.FinishedAt);
    expect(finishedMs).toBeGreaterThanOrEqual(goAtMs);
    expect(finishedMs).toBeLessThanOrEqual(exit7GoneMs);
    expect((await e.docker(["ps", "-a", "-f", "name=exit7", "--format", "{{.Status}}"])).stdout).toMatch(/^Exited \(7\) /);

    // Logs kept growing while no daemon ran, and the tty's too, and the new daemon serves those lines.
    expect(between(await timedLogs("ticker"), downFromMs, downUntilMs)).toBeGreaterThan(5);
    expect(between(await timedLogs("tty"), downFromMs, downUntilMs, /^t\d+\r?$/)).toBeGreaterThan(3);

    // attach, exec -i and logs -f work on the survivors.
    await echoThroughAttach("reader", "after-restart");
    expect((await e.docker(["logs", "reader"])).stdout).toBe("before-crash\nafter-restart\n");
    const ttyAttach = new Session(e.daemon.env, ["attach", "--no-stdin", "--sig-proxy=false", "tty"]);
    try {
      expect(await ttyAttach.readUntil(/t\d+\r\n/)).toMatch(/t\d+\r\n/);
    } finally {
      await ttyAttach.end();
    }
    expect((await e.docker(["exec", "-i", "ticker", "cat"], "via-exec\n")).stdout).toBe("via-exec\n");
    expect((await e.docker(["exec", "always", "sh", "-c", "exit 4"])).exitCode).toBe(4);
    expect(await dockerUntil(e.daemon.env, ["logs", "-f", "--tail", "0", "ticker"], /tick \d+\n/)).toMatch(/^tick \d+\n/);

    // Stats, and the restart policy of an adopted container: its process dies, the daemon brings it back.
    expect((await e.docker(["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "ticker"])).stdout).toMatch(/^ticker [1-9]\d*\n$/);
    process.kill(pids.always!, "SIGKILL");
    await eventually(async () => {
      const s = await state(e, "always");
      return s.State.Running && s.State.Pid !== pids.always;
    }, "the adopted restart-always container to come back");
    expect((await state(e, "always")).RestartCount).toBe(1);
    pids.always = (await state(e, "always")).State.Pid;

    // The adopted containers stop as usual and leave nothing mounted.
    const ids = await Promise.all(names.map(async (n) => (await state(e, n)).Id as string));
    expect((await e.docker(["rm", "-f", ...names, "exit7"])).exitCode).toBe(0);
    for (const n of names) expect(isRunning(pids[n]!)).toBe(false);
    for (const id of ids) expect(mountsUnder(id)).toEqual([]);
  }, 90_000);
});

describe("SIGTERM of the daemon (live-restore, the default)", () => {
  test("leaves the containers running and mounted; the next daemon adopts them", async () => {
    const B = e.busybox;
    await e.docker(["run", "-d", "--name", "steady", B, "sh", "-c", "i=0; while :; do i=$((i+1)); echo s$i; sleep 0.2; done"]);
    await e.docker(["run", "-d", "-i", "--name", "steady-in", B, "cat"]);
    const steady = await state(e, "steady");
    const steadyIn = await state(e, "steady-in");
    const [keeper] = keeperPids(e.daemon.dataRoot);
    expect((await e.docker(["info", "--format", "{{.LiveRestoreEnabled}}"])).stdout).toBe("true\n");

    expect(await e.daemon.stop()).toBe(0);
    const downFromMs = Date.now();
    expect(isRunning(steady.State.Pid)).toBe(true);
    expect(isRunning(steadyIn.State.Pid)).toBe(true);
    expect(isRunning(keeper!)).toBe(true);
    expect(mountsUnder(`${steady.Id}/rootfs`).length).toBe(1);
    await eventually(() => between(logOnDisk(steady.LogPath), downFromMs, Date.now()) > 3, "steady to log while no daemon runs");

    const downUntilMs = Date.now();
    await e.daemon.restart();
    expect((await state(e, "steady")).State).toMatchObject({ Status: "running", Pid: steady.State.Pid, StartedAt: steady.State.StartedAt });
    expect((await state(e, "steady-in")).State).toMatchObject({ Status: "running", Pid: steadyIn.State.Pid });
    expect(between(await timedLogs("steady"), downFromMs, downUntilMs)).toBeGreaterThan(3);
    await echoThroughAttach("steady-in", "after-sigterm");
    expect((await e.docker(["exec", "steady", "echo", "exec-ok"])).stdout).toBe("exec-ok\n");
    expect((await e.docker(["stop", "-t", "1", "steady"])).exitCode).toBe(0);
    expect((await state(e, "steady")).State).toMatchObject({ Status: "exited", Running: false });
    expect(mountsUnder(`${steady.Id}/rootfs`)).toEqual([]);
    await e.docker(["rm", "-f", "steady", "steady-in"]);
  }, 60_000);

  test("with 20 running containers: re-adoption time after kill -9, and the keeper's PSS per container", async () => {
    const count = 20;
    const names = Array.from({ length: count }, (_, i) => `many${i}`);
    for (const n of names) expect((await e.docker(["run", "-d", "--name", n, e.busybox, "sleep", "1000"])).exitCode).toBe(0);
    const [keeper] = keeperPids(e.daemon.dataRoot);
    const pssKiB = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${keeper}/smaps_rollup`, "utf8"))?.[1]);

    await e.daemon.kill9();
    const started = performance.now();
    await e.daemon.restart();
    const running = async () => ((await (await e.api("/v1.51/containers/json")).json()) as { Names: string[] }[]).length;
    while ((await running()) < count) await Bun.sleep(5);
    const readoptMs = performance.now() - started;

    console.log(`re-adoption after kill -9 with ${count} running containers: ${readoptMs.toFixed(0)} ms (daemon start to all ${count} listed running)`);
    console.log(`keeper PSS with ${count} running containers: ${pssKiB} KiB, ${(pssKiB / count).toFixed(1)} KiB per container`);
    expect(pssKiB / count).toBeLessThan(64);
    expect((await e.docker(["rm", "-f", ...names])).exitCode).toBe(0);
  }, 90_000);
});

describe("upgrades", () => {
  test("a daemon built from another commit adopts the running keeper's containers (protocol hello)", async () => {
    const x = await engine({ liveRestore: true });
    const other = join(x.daemon.dir, "bunker-other-build");
    const build = Bun.spawnSync(
      ["bun", "build", "--compile", "--define", 'process.env.BUNKER_GIT_COMMIT="other-build"', "./src/main.ts", "./drivers/exec/exit-worker.ts", "--outfile", other],
      { cwd: join(import.meta.dir, ".."), stdout: "pipe", stderr: "pipe" },
    );
    expect(build.exitCode).toBe(0);
    const started = await x.docker(["run", "-d", "--name", "survivor", e.busybox, "sh", "-c", "while :; do echo tick; sleep 0.2; done"]);
    expect(started.exitCode).toBe(0);
    const before = JSON.parse((await x.docker(["inspect", "survivor"])).stdout)[0].State;
    const [keeper] = keeperPids(x.daemon.dataRoot);
    const oldCommit = (await x.docker(["version", "--format", "{{.Server.GitCommit}}"])).stdout.trim();

    expect(await x.daemon.stop()).toBe(0);
    await x.daemon.restart(other);
    expect((await x.docker(["version", "--format", "{{.Server.GitCommit}}"])).stdout.trim()).toBe("other-build");
    expect(oldCommit).not.toBe("other-build");
    // Same keeper process (same protocol), same container process, fully usable.
    expect(keeperPids(x.daemon.dataRoot)).toContain(keeper!);
    expect(isRunning(keeper!)).toBe(true);
    const after = JSON.parse((await x.docker(["inspect", "survivor"])).stdout)[0].State;
    expect(after).toMatchObject({ Status: "running", Pid: before.Pid, StartedAt: before.StartedAt });
    expect((await x.docker(["exec", "survivor", "echo", "exec-ok"])).stdout).toBe("exec-ok\n");
    expect((await x.docker(["logs", "--tail", "1", "survivor"])).stdout).toBe("tick\n");
    const fresh = await x.docker(["run", "--rm", e.busybox, "echo", "new-build-runs"]);
    expect(fresh.stdout).toBe("new-build-runs\n");
    await x.docker(["rm", "-f", "survivor"]);
  }, 120_000);
});

describe("other shutdown modes", () => {
  test("--live-restore=false stops the containers at shutdown and ends the keeper", async () => {
    const x = await engine({ liveRestore: false });
    await x.docker(["run", "-d", "--name", "one", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
    await x.docker(["run", "-d", "-t", "--name", "two", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
    const pids = [(await state(x, "one")).State.Pid, (await state(x, "two")).State.Pid];
    const [keeper] = keeperPids(x.daemon.dataRoot);
    expect(await x.daemon.stop()).toBe(0);
    for (const pid of pids) expect(isRunning(pid)).toBe(false);
    expect(isRunning(keeper!)).toBe(false);
    expect(mountsUnder(`${x.daemon.dataRoot}/containers`)).toEqual([]);

    await x.daemon.restart();
    expect((await state(x, "one")).State).toMatchObject({ Status: "exited", Running: false, Error: "" });
    await retire(x);
  }, 60_000);

  test("--ephemeral removes every container and ends the keeper: nothing is left on the host", async () => {
    const x = await engine({ liveRestore: true, args: ["--ephemeral"] });
    await x.docker(["run", "-d", "--name", "one", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
    await x.docker(["run", "-d", "-t", "--name", "two", "--stop-timeout", "1", e.busybox, "sh"]);
    expect((await x.docker(["exec", "-d", "one", "sleep", "300"])).exitCode).toBe(0);
    const ids = [(await state(x, "one")).Id as string, (await state(x, "two")).Id as string];
    const pids = [(await state(x, "one")).State.Pid, (await state(x, "two")).State.Pid];
    const [keeper] = keeperPids(x.daemon.dataRoot);
    const execPids = readFileSync(`/proc/${keeper}/task/${keeper}/children`, "utf8").trim().split(" ").map(Number).filter((p) => !pids.includes(p));
    expect(execPids.length).toBe(1);

    expect(await x.daemon.stop()).toBe(0);
    // Gone, not even a zombie: the daemon reaped its keeper, the keeper its children.
    for (const pid of [keeper!, ...pids, ...execPids]) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(mountsUnder(x.daemon.dataRoot)).toEqual([]);
    for (const id of ids) expect(cgroupDirsOf(id)).toEqual([]);
    expect(readdirSync(join(x.daemon.dataRoot, "containers"))).toEqual([]);
    await retire(x);
  }, 60_000);

  test("published ports, addresses and DNS names of adopted containers keep working", async () => {
    const x = await engine({ bridge: true, liveRestore: true });
    expect((await x.docker(["network", "create", "lrnet"])).exitCode).toBe(0);
    await x.docker(["run", "-d", "--name", "web", "--stop-timeout", "1", "--network", "lrnet", "-p", "127.0.0.1::80", e.busybox, "sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp"]);
    await x.docker(["run", "-d", "--name", "client", "--stop-timeout", "1", "--network", "lrnet", e.busybox, "sleep", "300"]);
    const port = (await x.docker(["port", "web", "80"])).stdout.trim();
    const get = () => fetch(`http://${port}/index.html`).then((res) => res.text(), () => "");
    await eventually(async () => (await get()) === "served\n", "the published port");
    const ip = (await state(x, "web")).NetworkSettings.Networks.lrnet.IPAddress;

    await x.daemon.kill9();
    await x.daemon.restart();
    expect((await state(x, "web")).NetworkSettings.Networks.lrnet.IPAddress).toBe(ip);
    expect((await x.docker(["port", "web", "80"])).stdout.trim()).toBe(port);
    await eventually(async () => (await get()) === "served\n", "the published port after the restart");
    const lookup = await x.docker(["exec", "client", "nslookup", "web"]);
    expect(lookup.stdout).toContain(ip);
    expect(Object.keys(JSON.parse((await x.docker(["network", "inspect", "lrnet"])).stdout)[0].Containers).length).toBe(2);
    await retire(x);
  }, 90_000);
});
