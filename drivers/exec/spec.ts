/**
 * What the exec driver needs to start a container or exec a process in one. Everything is already
 * resolved by the caller: the rootfs is assembled, the user is numeric (never looked up inside the
 * container: CVE-2019-14271), capabilities are masks, the seccomp profile is compiled BPF, sysctl names
 * are validated.
 */

/** `private`: a new namespace; `host`: the daemon's; `{ path }`: join an existing one (a netns file, /proc/PID/ns/x). */
export type NamespaceMode = "private" | "host" | { path: string };

export interface Namespaces {
  network: NamespaceMode;
  ipc: NamespaceMode;
  uts: NamespaceMode;
  /** Joining another pid namespace is not supported yet (it needs one more fork before the container's init). */
  pid: "private" | "host";
  /** Created after the process joined its cgroups, so the namespace root is the container's cgroup. */
  cgroup: "private" | "host";
}

export const DEFAULT_NAMESPACES: Namespaces = { network: "private", ipc: "private", uts: "private", pid: "private", cgroup: "host" };

export type Propagation = "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave";

interface MountFlags {
  readonly?: boolean;
  nosuid?: boolean;
  nodev?: boolean;
  noexec?: boolean;
}

export interface BindMount extends MountFlags {
  type: "bind";
  /** Host path. */
  source: string;
  /** Absolute path inside the container; created (as a directory or an empty file) when missing. */
  destination: string;
  /** rbind (docker's default) unless false. */
  recursive?: boolean;
  propagation?: Propagation;
}

export interface TmpfsMount extends MountFlags {
  type: "tmpfs";
  destination: string;
  /** tmpfs options, e.g. `size=65536k,mode=1777`. */
  data?: string;
}

export type Mount = BindMount | TmpfsMount;

/** A device node made in the container (`docker run --device`): a copy of a host node. */
export interface DeviceNode {
  /** Absolute path inside the container; missing parent directories are created. */
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  /** Permission bits of the node. */
  mode: number;
  uid: number;
  gid: number;
  /** The host node, bind-mounted in its place when mknod is refused. */
  hostPath: string;
}

export type RlimitName =
  | "cpu" | "fsize" | "data" | "stack" | "core" | "rss" | "nproc" | "nofile" | "memlock" | "as" | "locks"
  | "sigpending" | "msgqueue" | "nice" | "rtprio" | "rttime";

/** -1 means unlimited, as in `docker run --ulimit`. */
export interface Rlimit {
  type: RlimitName;
  soft: number | bigint;
  hard: number | bigint;
}

/** 64-bit capability masks (bit n = capability n); ambient is always cleared. */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  bounding: bigint;
}

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

/** The process half, shared by a container's first process and `docker exec`. */
export interface ProcessSpec {
  /** argv; args[0] is looked up in the PATH of `env` inside the container unless it contains a slash. */
  args: string[];
  /** `KEY=value` entries. */
  env: string[];
  /** Absolute path inside the container. */
  cwd: string;
  /** Omitted: root (uid 0, gid 0) with no supplementary groups changed. */
  user?: ProcessUser;
  /** Cut to what the daemon holds. */
  capabilities: CapabilitySets;
  noNewPrivileges?: boolean;
  /** A compiled classic-BPF program (struct sock_filter[]); omitted: no filter. */
  seccomp?: Uint8Array;
  rlimits?: Rlimit[];
  /** A pty from the container's devpts instead of pipes. */
  tty?: boolean;
  consoleSize?: { rows: number; cols: number };
  /** A stdin pipe (or the pty's input); otherwise stdin is /dev/null. */
  openStdin?: boolean;
  /**
   * The cgroups the process joins itself, first thing once released: the files it writes "0" into (see
   * CgroupManager.selfJoinFiles).
   */
  cgroupJoin?: string[];
  /** Upper bound for clone → execve; the child is killed after it. Default 30 s. */
  setupTimeoutMs?: number;
}

export interface ContainerSpec extends ProcessSpec {
  /** Assembled root filesystem (a directory; it is bind-mounted onto itself in the container's mount ns). */
  rootfs: string;
  hostname?: string;
  domainname?: string;
  namespaces?: Partial<Namespaces>;
  mounts?: Mount[];
  /** Host files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles?: { hostname?: string; hosts?: string; resolvConf?: string };
  /** Default: DEFAULT_MASKED_PATHS, or none when privileged. */
  maskedPaths?: string[];
  /** Default: DEFAULT_READONLY_PATHS, or none when privileged. */
  readonlyPaths?: string[];
  /** No masked/read-only paths by default, /sys writable. */
  privileged?: boolean;
  readonlyRootfs?: boolean;
  /** Names with dots (`net.ipv4.ip_forward`); the caller allows only namespaced ones. */
  sysctls?: Record<string, string>;
  /** /dev/shm size in bytes; default 64 MiB. */
  shmSize?: number;
  /** Made after the standard /dev nodes. Access to them is the cgroup's business (CgroupResources.devices). */
  devices?: DeviceNode[];
}

/** `docker exec`: the process half; namespaces come from the target process. */
export type ExecSpec = ProcessSpec;

/** Docker's masked paths (moby daemon/pkg/oci/defaults.go). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DEFAULT_READONLY_PATHS: readonly string[] = [
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
];
