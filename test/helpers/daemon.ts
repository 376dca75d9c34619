/**
 * Start a real bunker daemon from the built binary (dist/bunker) on a temporary socket and data root.
 * Every test file that needs an engine starts its own, so files can run in parallel.
 *
 * Containers outlive a daemon by default (they are the keeper's children). Test daemons run with
 * `--live-restore=false` unless a test asks otherwise, so that stopping one stops its containers and ends its
 * keeper; stopDaemon also ends a keeper that a killed daemon left behind, and reaps it: the test process is
 * made a child subreaper, so a keeper orphaned by `kill9` becomes its child instead of init's (which does not
 * reap on these hosts).
 */
import { mkdtempSync, rmSync, existsSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { becomeSubreaper } from "../../drivers/exec/exit-watcher";
import { Keeper, listGenerations } from "../../drivers/exec/keeper/client";
import { processExists, SysError, waitpid, WNOHANG } from "../../drivers/libc/libc";
import { freeSubnet } from "../../src/daemon/ephemeral";
import { SETTLE_TIMEOUT_MS } from "./wait";

export const BUNKER_BIN = resolve(import.meta.dir, "../../dist/bunker");

export interface TestDaemon {
  socket: string;
  host: string;
  dataRoot: string;
  dir: string;
  proc: Subprocess;
  /** environment for the docker CLI / our CLI pointing at this daemon */
  env: Record<string, string>;
  logs(): string;
  stop(): Promise<number>;
  kill9(): Promise<void>;
  /** Start again on the same data root and socket (after stop or kill9), optionally from another binary. */
  restart(binary?: string): Promise<void>;
}

export interface DaemonOptions {
  args?: string[];
  /**
   * The default bridge. Test daemons run in parallel, so by default they get none (containers on the
   * default network then have only loopback); `true` gives this daemon its own bridge name and subnet.
   */
  bridge?: boolean;
  storageDriver?: string;
  dataRoot?: string;
  env?: Record<string, string>;
  /** Tests want "debug" (the default) in their logs; benchmarks want the daemon's own default, "info". */
  logLevel?: string;
  /** Leave containers running when the daemon stops (the daemon's default; tests default to false). */
  liveRestore?: boolean;
}

/** A bridge name no other test daemon uses (15 chars max). */
export function uniqueBridgeName(): string {
  return `bkt${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`.slice(0, 15);
}

/** A /24 in 10.200-249.x.0 that is not routed on this host yet. */
export function uniqueBridgeCidr(): string {
  return freeSubnet(Bun.spawnSync(["ip", "-4", "route"]).stdout.toString());
}

export function requireBinary(): void {
  if (!existsSync(BUNKER_BIN)) throw new Error(`${BUNKER_BIN} is missing: run \`bun run build\` first (test/run.sh does)`);
}

/** A daemon starts in well under a second; a loaded CI machine may take many times that. */
const DAEMON_START_TIMEOUT_MS = 60_000;

export async function waitForSocket(socket: string, proc: Subprocess, logFile: string, timeoutMs = DAEMON_START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}:\n${readFileSync(logFile, "utf8")}`);
    if (existsSync(socket)) {
      try {
        const res = await fetch("http://localhost/_ping", { unix: socket } as RequestInit);
        if (res.ok) return;
      } catch {}
    }
    await Bun.sleep(25);
  }
  throw new Error(`daemon did not answer on ${socket} within ${timeoutMs} ms:\n${readFileSync(logFile, "utf8")}`);
}

export async function startDaemon(options: DaemonOptions = {}): Promise<TestDaemon> {
  requireBinary();
  becomeSubreaper();
  const dir = mkdtempSync(join(tmpdir(), "bunker-test-"));
  const socket = join(dir, "bunker.sock");
  const dataRoot = options.dataRoot ?? join(dir, "root");
  const logFile = join(dir, "daemon.log");
  const args = [
    "daemon",
    "-H", `unix://${socket}`,
    "--data-root", dataRoot,
    "--pidfile", join(dir, "bunker.pid"),
    "--config-file", "/dev/null/none",
    "--log-level", options.logLevel ?? "debug",
    ...(options.storageDriver ? ["--storage-driver", options.storageDriver] : []),
    ...(options.bridge ? ["--bridge", uniqueBridgeName(), "--bip", uniqueBridgeCidr(), "--ephemeral"] : ["--bridge", "none"]),
    ...(options.liveRestore ? [] : ["--live-restore=false"]),
    ...(options.args ?? []),
  ];
  // An explicit --config-file that does not exist is an error; tests want no config file at all.
  const argv = args.filter((a, i) => a !== "--config-file" && args[i - 1] !== "--config-file");
  const spawn = (binary = BUNKER_BIN) =>
    Bun.spawn([binary, ...argv], { stdout: Bun.file(logFile), stderr: Bun.file(logFile), env: { ...process.env, ...options.env } });
  const daemon: TestDaemon = {
    socket,
    host: `unix://${socket}`,
    dataRoot,
    dir,
    proc: spawn(),
    env: { DOCKER_HOST: `unix://${socket}`, BUNKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, "docker-config") },
    logs: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    async stop() {
      if (daemon.proc.exitCode !== null) return daemon.proc.exitCode;
      daemon.proc.kill("SIGTERM");
      // Stopping containers (their stop timeouts) and keepers can take a while on a loaded machine.
      let timer: Timer | undefined;
      const code = await Promise.race([daemon.proc.exited, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), 60_000)))]);
      clearTimeout(timer);
      if (code === -1) {
        daemon.proc.kill("SIGKILL");
        await daemon.proc.exited;
      }
      return code;
    },
    async kill9() {
      daemon.proc.kill("SIGKILL");
      await daemon.proc.exited;
    },
    async restart(binary?: string) {
      daemon.proc = spawn(binary);
      await waitForSocket(socket, daemon.proc, logFile);
    },
  };
  try {
    await waitForSocket(socket, daemon.proc, logFile);
  } catch (err) {
    // Nobody gets this daemon to stop: end it and remove what it made here.
    if (daemon.proc.exitCode === null) daemon.proc.kill("SIGKILL");
    await daemon.proc.exited;
    await endKeepers(dataRoot);
    removeLeftovers(dataRoot);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return daemon;
}

/** Stop the daemon and remove its directory (data root included unless it was given from outside). */
export async function stopDaemon(daemon: TestDaemon | undefined): Promise<void> {
  if (!daemon) return;
  // Read first: a keeper that exits removes its pid file, and one orphaned by a kill9 is ours to reap.
  const keepers = keeperPids(daemon.dataRoot);
  await daemon.stop();
  await endKeepers(daemon.dataRoot);
  for (const pid of keepers) await reap(pid);
  removeLeftovers(daemon.dataRoot);
  rmSync(daemon.dir, { recursive: true, force: true });
}

/**
 * A daemon that stopped with live-restore (or was killed) leaves its containers' rootfs mounts and cgroups
 * for the next daemon to adopt; once the test has ended the keeper, nothing will: detach every mount under
 * the data root (deepest first) and remove the containers' cgroups, so the host is left as it was.
 */
export function removeLeftovers(dataRoot: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m === dataRoot || m.startsWith(`${dataRoot}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  const containers = join(dataRoot, "containers");
  const ids = existsSync(containers) ? readdirSync(containers) : [];
  for (const root of cgroupParents()) for (const id of ids) if (existsSync(join(root, id))) Bun.spawnSync(["rmdir", join(root, id)]);
}

/** Where container cgroups live: `bunker` under every cgroup v1 controller and the cgroup2 mounts. */
function cgroupParents(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => join(l.split(" ")[4] ?? "", "bunker"))
    .filter((p) => existsSync(p));
}

/** The pids of the keepers of a data root (every generation), whether they still run or not. */
export function keeperPids(dataRoot: string): number[] {
  return listGenerations(join(dataRoot, "keeper")).flatMap(({ dir }) => {
    const pid = keeperPid(dir);
    return pid === null ? [] : [pid];
  });
}

function keeperPid(generationDir: string): number | null {
  const file = join(generationDir, "keeper.pid");
  const pid = existsSync(file) ? Number(readFileSync(file, "utf8").trim()) : 0;
  return pid > 0 ? pid : null;
}

/** A process that exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

/**
 * End the keepers a data root still runs (each kills and reaps its containers) and reap them. A daemon that
 * stopped with live-restore off ended its keeper itself; this is for one that was killed or kept them.
 */
export async function endKeepers(dataRoot: string): Promise<void> {
  for (const { dir } of listGenerations(join(dataRoot, "keeper"))) {
    const pid = keeperPid(dir);
    if (pid === null) continue;
    if (isRunning(pid)) {
      const keeper = await Keeper.connect(dir).catch(() => null);
      await keeper?.shutdown().catch(() => {});
      const deadline = Date.now() + 12_000;
      while (isRunning(pid) && Date.now() < deadline) await Bun.sleep(20);
      if (isRunning(pid)) process.kill(pid, "SIGKILL");
    }
    await reap(pid);
  }
}

/** Reap `pid` once it has ended, if it became our child (we are a subreaper); nothing otherwise. */
export async function reap(pid: number): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  while (isRunning(pid) && Date.now() < deadline) await Bun.sleep(10);
  try {
    if (processExists(pid)) waitpid(pid, WNOHANG);
  } catch (err) {
    if (!(err instanceof SysError)) throw err;
  }
}
