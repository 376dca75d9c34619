/**
 * Failures between clone and execve, decoded from the launcher's error record (native/prelude.c) (step, errno, detail).
 * `exitCode` follows docker: 127 when something was not found, 126 when it was not permitted to run,
 * 128 for any other start failure.
 */
import { errnoName, Errno } from "../libc/errno";
import { strerror } from "../libc/libc";

/** Steps in native/prelude.c's `enum step` order (1-based there). */
const STEPS = [
  "config", "channel", "clone", "cgroup", "sync", "join-namespace", "unshare", "rootfs", "mount", "devices",
  "pivot-root", "mask", "readonly", "sysctl", "hostname", "domainname", "pty", "stdio", "close-fds", "rlimit", "cwd",
  "lookup", "exec", "setgroups", "setgid", "setuid", "capabilities", "no-new-privileges", "seccomp", "timeout",
  "namespace-open", "pidfd",
] as const;

export type LaunchStep = (typeof STEPS)[number];

const LABELS: Record<LaunchStep, string> = {
  config: "invalid launch config", channel: "create pipes", clone: "clone", cgroup: "join cgroup",
  sync: "wait for container setup", "join-namespace": "join namespace", unshare: "unshare namespace",
  rootfs: "prepare rootfs", mount: "mount", devices: "create device", "pivot-root": "pivot_root", mask: "mask path",
  readonly: "make path read-only", sysctl: "write sysctl", hostname: "sethostname", domainname: "setdomainname",
  pty: "allocate pty", stdio: "set up stdio", "close-fds": "close fds", rlimit: "setrlimit", cwd: "chdir to cwd",
  lookup: "look up executable", exec: "exec", setgroups: "setgroups", setgid: "setgid", setuid: "setuid",
  capabilities: "set capabilities", "no-new-privileges": "set no_new_privs", seccomp: "load seccomp filter",
  timeout: "container setup timed out", "namespace-open": "open namespace", pidfd: "pidfd_open",
};

/** Size of `struct error_record` in native/prelude.c. */
export const ERROR_RECORD_SIZE = 512;

export class LaunchError extends Error {
  override name = "LaunchError";
  constructor(
    message: string,
    readonly step: LaunchStep,
    readonly errno: number,
    readonly detail: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** `exec: "foo": executable file not found in $PATH` (exit code 127). */
export class ExecutableNotFoundError extends LaunchError {
  override name = "ExecutableNotFoundError";
}

/** The executable exists but cannot be run: permission denied, a directory (exit code 126). */
export class ExecutablePermissionError extends LaunchError {
  override name = "ExecutablePermissionError";
}

/** Go-style lower-case text, as docker prints it ("no such file or directory"). */
function goError(errno: number): string {
  const text = strerror(errno);
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function exitCodeFor(errno: number): number {
  if (errno === Errno.ENOENT) return 127;
  if (errno === Errno.EACCES || errno === Errno.EISDIR) return 126;
  return 128;
}

export function launchError(step: LaunchStep, errno: number, detail: string): LaunchError {
  const exitCode = exitCodeFor(errno);
  if (step === "lookup" || step === "exec") {
    const Class = exitCode === 127 ? ExecutableNotFoundError : ExecutablePermissionError;
    let message: string;
    if (step === "exec") message = `exec ${detail}: ${goError(errno)}`;
    else if (errno === Errno.ENOENT && !detail.includes("/")) message = `exec: ${JSON.stringify(detail)}: executable file not found in $PATH`;
    else if (errno === Errno.ENOENT) message = `exec: ${JSON.stringify(detail)}: stat ${detail}: ${goError(errno)}`;
    else message = `exec: ${JSON.stringify(detail)}: ${goError(errno)}`;
    return new Class(message, step, errno, detail, exitCode);
  }
  const label = LABELS[step];
  const where = detail ? `${label} ${detail}` : label;
  const message = step === "timeout" ? label : `${where}: ${strerror(errno)}`;
  return new LaunchError(message, step, errno, detail, exitCode);
}

/** Decode the launcher's `struct error_record { u32 kind; u32 step; int err; char detail[500]; }`. */
export function launchErrorFromRecord(record: Uint8Array): LaunchError {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const stepIndex = view.getUint32(4, true);
  const errno = view.getInt32(8, true);
  const raw = record.subarray(12);
  const end = raw.indexOf(0);
  const detail = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
  const step = STEPS[stepIndex - 1] ?? "config";
  return launchError(step, errno, detail);
}
