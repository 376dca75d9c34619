/**
 * The Docker engine as a benchmark peer: find dockerd (optionally install Debian's docker.io, which brings containerd
 * and runc), run it fully isolated in /tmp/bench-docker-* — its own socket, data root, exec root, pidfile, config and
 * key file, no bridge, no iptables, no ip_forward change — and stop it by PID and remove everything afterwards.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitForSocket } from "../../test/helpers/daemon.ts";
import type { Engine } from "../types.ts";

export interface DockerPeer extends Engine {
  pid: number;
  stop(): Promise<void>;
}

export type PeerResult = { peer: DockerPeer } | { unavailable: string };

const DOCKERD_CANDIDATES = ["/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"];
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export function findDockerd(): string | null {
  return Bun.which("dockerd") ?? DOCKERD_CANDIDATES.find((path) => existsSync(path)) ?? null;
}

/** Install docker.io with apt; services are kept from starting (policy-rc.d) so nothing touches the host network. */
async function installDockerIo(log: (message: string) => void): Promise<string | null> {
  if (process.getuid?.() !== 0) return "installing docker.io needs root";
  if (!Bun.which("apt-get")) return "installing docker.io needs apt-get";
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const install = async () =>
      Bun.spawn(["apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io"], {
        env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
        stdout: "pipe",
        stderr: "pipe",
      });
    log("installing docker.io with apt-get (this takes a while)");
    let proc = await install();
    let output = (await new Response(proc.stderr).text()) + (await new Response(proc.stdout).text());
    if ((await proc.exited) !== 0) {
      log("apt-get install failed; running apt-get update and trying once more");
      await Bun.spawn(["apt-get", "update", "-q"], { stdout: "ignore", stderr: "ignore" }).exited;
      proc = await install();
      output = (await new Response(proc.stderr).text()) + (await new Response(proc.stdout).text());
      if ((await proc.exited) !== 0) return `apt-get install docker.io failed:\n${output.split("\n").slice(-15).join("\n")}`;
    }
    return null;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
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

/** dockerd starts its own containerd below the exec root; end it too if dockerd did not. */
async function stopSupervisedContainerd(execRoot: string): Promise<void> {
  const pidFile = join(execRoot, "containerd", "containerd.pid");
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : 0;
  if (!Number.isInteger(pid) || pid <= 0) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return; // already gone
  }
  // The pid file may be stale and the pid reused: only end the containerd that runs on our exec root.
  if (!cmdline.includes(execRoot)) return;
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
    const failure = await installDockerIo(options.log);
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
    return { peer: { name: `docker ${version}`, socket, pid: proc.pid, stop: cleanUp } };
  } catch (error) {
    const logs = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-10).join("\n") : "";
    await cleanUp();
    return { unavailable: `dockerd did not start: ${(error as Error).message.split("\n")[0]}\n${logs}` };
  }
}
