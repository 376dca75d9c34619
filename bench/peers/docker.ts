/**
 * The Docker engine as a benchmark peer: find dockerd (optionally install Debian's docker.io, which brings containerd
 * and runc), run it fully isolated in /tmp/bench-docker-* — its own socket, data root, exec root, pidfile, config and
 * key file, no bridge, no iptables, no ip_forward change — and stop it by PID and remove everything afterwards.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitForSocket } from "../../test/helpers/daemon.ts";
import { aptInstall } from "../apt.ts";
import type { Engine } from "../types.ts";

export interface DockerPeer extends Engine {
  pid: number;
  /** dockerd, its containerd and every containerd shim of its containers. */
  processes(): number[];
  stop(): Promise<void>;
}

export type PeerResult = { peer: DockerPeer } | { unavailable: string };

const DOCKERD_CANDIDATES = ["/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"];
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export function findDockerd(): string | null {
  return Bun.which("dockerd") ?? DOCKERD_CANDIDATES.find((path) => existsSync(path)) ?? null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(50);
  }
  return true;
}

/** Lazily detach whatever dockerd left mounted below `dir`, deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const mountPoints = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined && point.startsWith(`${dir}/`))
    .toSorted((a, b) => b.length - a.length);
  for (const point of mountPoints) await Bun.spawn(["umount", "-l", point], { stdout: "ignore", stderr: "ignore" }).exited;
}

function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return null; // gone
  }
}

/** The containerd that dockerd supervises below `execRoot`, if it runs. */
function supervisedContainerd(execRoot: string): number | null {
  const pidFile = join(execRoot, "containerd", "containerd.pid");
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : 0;
  if (!Number.isInteger(pid) || pid <= 0) return null;
  // The pid file may be stale and the pid reused: only the containerd that runs on our exec root counts.
  return cmdlineOf(pid)?.includes(execRoot) ? pid : null;
}

/** The containerd shims of the containers of this peer: they name its containerd socket, below `execRoot`. */
function shims(execRoot: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      const cmdline = cmdlineOf(pid);
      return cmdline !== null && cmdline.includes("containerd-shim") && cmdline.includes(execRoot);
    });
}

/** dockerd starts its own containerd below the exec root; end it too if dockerd did not. */
async function stopSupervisedContainerd(execRoot: string): Promise<void> {
  const pid = supervisedContainerd(execRoot);
  if (pid === null) return;
  process.kill(pid, "SIGTERM");
  if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) process.kill(pid, "SIGKILL");
}

async function engineVersion(socket: string): Promise<string> {
  const response = await fetch("http://docker/version", { unix: socket } as RequestInit);
  const body = (await response.json()) as { Version?: string };
  return body.Version ?? "unknown";
}

/**
 * Start dockerd as a peer. `install` allows installing docker.io when dockerd is missing (slow; the caller asks for it
 * with --with-docker or BENCH_DOCKER=1).
 */
export async function startDockerPeer(options: { install: boolean; log: (message: string) => void }): Promise<PeerResult> {
  let dockerd = findDockerd();
  if (!dockerd) {
    if (!options.install) return { unavailable: "dockerd is not installed (pass --with-docker or set BENCH_DOCKER=1 to install docker.io)" };
    const failure = await aptInstall(["docker.io"], options.log);
    if (failure) return { unavailable: failure };
    dockerd = findDockerd();
    if (!dockerd) return { unavailable: "docker.io was installed but dockerd is not on PATH" };
  }

  const dir = mkdtempSync("/tmp/bench-docker-");
  const socket = join(dir, "docker.sock");
  const execRoot = join(dir, "exec");
  const logFile = join(dir, "dockerd.log");
  const configFile = join(dir, "daemon.json");
  // The daemon's key (20.10 keeps it in /etc/docker by default) has no command-line flag, only a config key.
  writeFileSync(configFile, JSON.stringify({ "deprecated-key-path": join(dir, "key.json") }) + "\n");
  let proc: Subprocess | undefined;
  const cleanUp = async () => {
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      if (!(await waitForExit(proc.pid, STOP_TIMEOUT_MS))) proc.kill("SIGKILL");
      await proc.exited;
    }
    await stopSupervisedContainerd(execRoot);
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    proc = Bun.spawn(
      [
        dockerd,
        "--host", `unix://${socket}`,
        "--data-root", join(dir, "data"),
        "--exec-root", execRoot,
        "--pidfile", join(dir, "docker.pid"),
        "--config-file", configFile,
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
      ],
      { stdout: Bun.file(logFile), stderr: Bun.file(logFile) },
    );
    await waitForSocket(socket, proc, logFile, START_TIMEOUT_MS);
    const version = await engineVersion(socket);
    const dockerdPid = proc.pid;
    const processes = () => [dockerdPid, supervisedContainerd(execRoot), ...shims(execRoot)].filter((pid): pid is number => pid !== null);
    return { peer: { name: `docker ${version}`, socket, pid: dockerdPid, processes, stop: cleanUp } };
  } catch (error) {
    const logs = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n") : "";
    await cleanUp();
    return { unavailable: `dockerd did not start: ${(error as Error).message.split("\n")[0]}\n${logs}` };
  }
}
