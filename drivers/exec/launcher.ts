/**
 * Start a container, or exec a process in a running one, through the compiled C launcher.
 *
 * The daemon never forks, unshares or chdirs itself: the C launcher (native/) clones the child, which waits on a channel
 * while `hooks.beforeRelease(pid)` runs here (wire the network), then joins its cgroups, sets up everything in
 * C and execs. Exits are observed by the shared ExitWatcher (pidfd + poll in a Worker).
 */
import { close, kill } from "../libc/libc";
import { launchErrorFromRecord, ERROR_RECORD_SIZE } from "./errors";
import { exitWatcher, type ExitStatus } from "./exit-watcher";
import { loadLauncher, SpawnOut } from "./native";
import type { ContainerSpec, ExecSpec } from "./spec";
import { encodeContainer, encodeExec } from "./wire";

export interface LaunchHooks {
  /**
   * Work the release depends on that needs no pid (the cgroups the child joins once released): started as soon
   * as the child is asked for, so that a keeper creates it meanwhile. A throw kills the child and fails the launch.
   */
  whileCreating?(): Promise<void> | void;
  /** Runs while the child waits before any setup; a throw kills the child and fails the launch. */
  beforeRelease?(pid: number): Promise<void> | void;
}

/** Parent-side fds, owned by the caller (non-blocking, CLOEXEC); null where the mode has none. */
export interface ProcessStdio {
  stdin: number | null;
  stdout: number | null;
  stderr: number | null;
  /** With `tty: true`: the master of a pty allocated in the container's devpts (read and write). */
  ptyMaster: number | null;
}

export interface LaunchedProcess {
  /** In the daemon's pid namespace. */
  readonly pid: number;
  readonly stdio: ProcessStdio;
  /** Settles once the process has exited and been reaped. */
  readonly exited: Promise<ExitStatus>;
  /** Signal through the pidfd (never a recycled pid); false once the process has been reaped. */
  kill(signal?: number): boolean;
}

const DEFAULT_SETUP_TIMEOUT_MS = 30_000;
const SIGKILL = 9;

export function startContainer(spec: ContainerSpec, hooks: LaunchHooks = {}): Promise<LaunchedProcess> {
  return launch(encodeContainer(spec), spec.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS, hooks);
}

/**
 * Run a process in the namespaces of `targetPid` (a container's init): ipc, uts, net, pid, mnt, cgroup.
 * Pass the container's cgroup files in `spec.cgroupJoin`.
 */
export function execInContainer(targetPid: number, spec: ExecSpec, hooks: LaunchHooks = {}): Promise<LaunchedProcess> {
  const blob = encodeExec(targetPid, spec, exitWatcher().pidfdOf(targetPid));
  return launch(blob, spec.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS, hooks);
}

/**
 * Signal a process by pid. For processes this module launched and has not reaped yet the pidfd is used;
 * killing every process of a container is the cgroup's job.
 */
export function signalContainer(pid: number, signal: number): void {
  if (!exitWatcher().signal(pid, signal)) kill(pid, signal);
}

async function launch(blob: Uint8Array, timeoutMs: number, hooks: LaunchHooks): Promise<LaunchedProcess> {
  const launcher = loadLauncher();
  const watcher = exitWatcher();
  const out = new Int32Array(SpawnOut.COUNT);
  const error = new Uint8Array(ERROR_RECORD_SIZE);
  if (launcher.spawn(blob, timeoutMs, out, error) !== 0) {
    const pid = out[SpawnOut.PID]!;
    // A child that was created and then killed (its pidfd or pipes failed) still has to be reaped.
    if (pid > 0) await watcher.watch(pid, out[SpawnOut.PIDFD]!).catch(() => {});
    throw launchErrorFromRecord(error);
  }
  const pid = out[SpawnOut.PID]!;
  const channel = out[SpawnOut.CHANNEL]!;
  const pipes = [out[SpawnOut.STDIN]!, out[SpawnOut.STDOUT]!, out[SpawnOut.STDERR]!];
  const exited = watcher.watch(pid, out[SpawnOut.PIDFD]!);
  const closePipes = () => pipes.filter((fd) => fd >= 0).forEach((fd) => close(fd));

  try {
    await hooks.whileCreating?.();
    await hooks.beforeRelease?.(pid);
  } catch (e) {
    launcher.abort(pid, channel);
    closePipes();
    await exited.catch(() => {});
    throw e;
  }
  const ptyMaster = new Int32Array(1);
  if (launcher.release(pid, channel, timeoutMs, ptyMaster, error) !== 0) {
    closePipes();
    await exited.catch(() => {});
    throw launchErrorFromRecord(error);
  }
  const orNull = (fd: number) => (fd >= 0 ? fd : null);
  return {
    pid,
    stdio: { stdin: orNull(pipes[0]!), stdout: orNull(pipes[1]!), stderr: orNull(pipes[2]!), ptyMaster: orNull(ptyMaster[0]!) },
    exited,
    kill: (signal = SIGKILL) => watcher.signal(pid, signal),
  };
}

