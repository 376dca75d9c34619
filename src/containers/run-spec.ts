/**
 * A stored container → what the exec driver and the cgroup manager take: the process (argv, env, user,
 * capabilities, seccomp, rlimits, tty) and the container around it (rootfs, mounts, /etc files, namespaces).
 */
import { ALLOW_ALL_DEVICES, DEFAULT_DEVICE_RULES, type CgroupResources, type DeviceRule } from "../../drivers/exec/cgroups";
import { DOCKER_INIT_IN_CONTAINER } from "../../drivers/exec/init/install";
import type { ContainerSpec, DeviceNode, Mount, NamespaceMode, Rlimit, RlimitName } from "../../drivers/exec/spec";
import { InvalidParameterError } from "../errors";
import type { EtcFilePaths } from "./etc-files";
import { processSecurity } from "./security";
import { commandLine, type ContainerConfig, type ContainerRecord, type HostConfig, type Ulimit } from "./types";
import type { ResolvedUser } from "./user";

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function keyOf(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** Later entries replace earlier ones with the same name, keeping the first one's position. */
export function mergeEnv(...lists: string[][]): string[] {
  const out: string[] = [];
  const index = new Map<string, number>();
  for (const entry of lists.flat()) {
    const key = keyOf(entry);
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, out.length);
      out.push(entry);
    } else out[at] = entry;
  }
  return out;
}

/** docker's process environment: PATH and HOSTNAME first, TERM with a TTY, the container's Env, HOME last. */
export function processEnv(config: ContainerConfig, home: string, extra: string[] = []): string[] {
  const env = mergeEnv([DEFAULT_PATH, `HOSTNAME=${config.Hostname}`], config.Tty ? ["TERM=xterm"] : [], config.Env, extra);
  if (!env.some((e) => keyOf(e) === "HOME")) env.push(`HOME=${home}`);
  return env;
}

const RLIMIT_NAMES: readonly RlimitName[] = ["cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as", "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime"];

export function rlimitsOf(ulimits: Ulimit[] | null): Rlimit[] {
  return (ulimits ?? []).map((u) => {
    const type = u.Name.toLowerCase() as RlimitName;
    if (!RLIMIT_NAMES.includes(type)) throw new InvalidParameterError(`invalid ulimit type: ${u.Name}`);
    return { type, soft: u.Soft, hard: u.Hard };
  });
}

/** `deviceRules`: the container's `--device` rules, added to the defaults. */
export function cgroupResources(h: HostConfig, deviceRules: readonly DeviceRule[] = []): CgroupResources {
  const r: CgroupResources = {};
  if (h.Memory > 0) r.memory = h.Memory;
  if (h.MemorySwap !== 0) r.memorySwap = h.MemorySwap;
  if (h.MemoryReservation > 0) r.memoryReservation = h.MemoryReservation;
  if (h.NanoCpus > 0) r.nanoCpus = h.NanoCpus;
  if (h.CpuPeriod > 0) r.cpuPeriod = h.CpuPeriod;
  if (h.CpuQuota !== 0) r.cpuQuota = h.CpuQuota;
  if (h.CpuShares > 0) r.cpuShares = h.CpuShares;
  if (h.CpusetCpus) r.cpusetCpus = h.CpusetCpus;
  if (h.CpusetMems) r.cpusetMems = h.CpusetMems;
  if (h.PidsLimit !== null && h.PidsLimit > 0) r.pidsLimit = h.PidsLimit;
  if (h.BlkioWeight > 0) r.blkioWeight = h.BlkioWeight;
  if (h.Privileged) r.devices = [...ALLOW_ALL_DEVICES];
  else if (deviceRules.length > 0) r.devices = [...DEFAULT_DEVICE_RULES, ...deviceRules];
  return r;
}

export interface RunSpecInput {
  record: ContainerRecord;
  rootfs: string;
  /** Binds, volumes and tmpfs mounts, parents first (mounts.ts launchMounts). */
  mounts: Mount[];
  user: ResolvedUser;
  etcFiles: EtcFilePaths;
  network: NamespaceMode;
  cgroupJoin: string[];
  /** cgroup namespaces are private on v2 hosts (docker's default there), shared with the host on v1. */
  cgroupNamespace: "private" | "host";
  /** Variables of legacy links (ALIAS_PORT_80_TCP, ...), before the container's own. */
  linkEnv?: string[];
  /** `--device` nodes (devices.ts resolveDevices). */
  devices?: DeviceNode[];
  /** Host path of docker-init when the container runs under `--init`: its command becomes docker-init's child. */
  init?: string;
}

export function containerSpec(input: RunSpecInput): ContainerSpec {
  const { record, user } = input;
  const c = record.config;
  const h = record.hostConfig;
  const security = processSecurity(h);
  const [rows, cols] = h.ConsoleSize ?? [0, 0];
  const spec: ContainerSpec = {
    rootfs: input.rootfs,
    args: input.init ? [DOCKER_INIT_IN_CONTAINER, "--", ...commandLine(c)] : commandLine(c),
    env: [...(input.linkEnv ?? []), ...processEnv(c, user.home)],
    cwd: c.WorkingDir || "/",
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    capabilities: security.capabilities,
    noNewPrivileges: security.noNewPrivileges,
    rlimits: rlimitsOf(h.Ulimits),
    tty: c.Tty,
    openStdin: c.OpenStdin,
    cgroupJoin: input.cgroupJoin,
    namespaces: {
      network: input.network,
      cgroup: input.cgroupNamespace,
      pid: h.PidMode === "host" ? "host" : "private",
      ipc: h.IpcMode === "host" ? "host" : "private",
      uts: h.UTSMode === "host" ? "host" : "private",
    },
    mounts: input.init
      ? [...input.mounts, { type: "bind", source: input.init, destination: DOCKER_INIT_IN_CONTAINER, readonly: true, recursive: false }]
      : input.mounts,
    etcFiles: { hostname: input.etcFiles.hostname, hosts: input.etcFiles.hosts, resolvConf: input.etcFiles.resolvConf },
    privileged: h.Privileged,
    readonlyRootfs: h.ReadonlyRootfs,
    sysctls: h.Sysctls ?? {},
    shmSize: h.ShmSize,
    devices: input.devices ?? [],
  };
  if (security.seccomp) spec.seccomp = security.seccomp;
  // With the host's UTS namespace the host's names stay.
  if (h.UTSMode !== "host") spec.hostname = c.Hostname;
  if (c.Domainname && h.UTSMode !== "host") spec.domainname = c.Domainname;
  if (c.Tty && rows > 0 && cols > 0) spec.consoleSize = { rows, cols };
  if (security.unmaskSystemPaths) {
    spec.maskedPaths = [];
    spec.readonlyPaths = [];
  }
  return spec;
}
