/**
 * HostConfig as sent by clients → the normalized HostConfig stored with the container, with docker's checks and
 * wording (400 for anything the daemon would refuse) and the warnings `docker run` prints.
 */
import type { CgroupHostInfo } from "../../drivers/exec/cgroups";
import { CapabilityError, normalizeCapabilityName } from "../../drivers/exec/caps";
import { InvalidParameterError } from "../errors";
import { parseMounts, parseVolumesFrom } from "../volumes/mount-spec";
import { parseSecurityOpts } from "./security";
import { parseLogConfig } from "./logs/options";
import { checkSysctls } from "./sysctls";
import type { HostConfig, RestartPolicy } from "./types";
import { parseLinks } from "./links";
import { resolveDevices } from "./devices";

const MIN_MEMORY = 6 * 1024 * 1024;
const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** What the host can enforce: decides the warnings and the CPU range. */
export interface HostLimits {
  ncpu: number;
  cgroup: CgroupHostInfo;
}

const DEFAULTS: HostConfig = {
  Binds: null, NetworkMode: "default", RestartPolicy: { Name: "no", MaximumRetryCount: 0 }, AutoRemove: false,
  LogConfig: { Type: "json-file", Config: {} }, ConsoleSize: [0, 0], CapAdd: null, CapDrop: null, Dns: [], DnsOptions: [],
  DnsSearch: [], ExtraHosts: null, GroupAdd: null, Privileged: false, ReadonlyRootfs: false, SecurityOpt: null,
  ShmSize: DEFAULT_SHM_SIZE, Memory: 0, MemorySwap: 0, MemoryReservation: 0, NanoCpus: 0, CpuShares: 0, CpuPeriod: 0,
  CpuQuota: 0, CpusetCpus: "", CpusetMems: "", PidsLimit: null, BlkioWeight: 0, Ulimits: null, OomKillDisable: false,
};

function orDefault<T>(value: T | undefined | null, fallback: T): T {
  return value === undefined || value === null ? fallback : value;
}

export function checkRestartPolicy(policy: RestartPolicy, autoRemove: boolean): RestartPolicy {
  const name = policy.Name || "no";
  if (!["no", "always", "unless-stopped", "on-failure"].includes(name)) throw new InvalidParameterError(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  const max = policy.MaximumRetryCount ?? 0;
  if (max < 0) throw new InvalidParameterError("invalid restart policy: maximum retry count must be a positive integer");
  if (max > 0 && name !== "on-failure") throw new InvalidParameterError(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (autoRemove && name !== "no") throw new InvalidParameterError(`can't create 'AutoRemove' container with restart policy`);
  return { Name: name as RestartPolicy["Name"], MaximumRetryCount: max };
}

/** "0-2,4" → [0,1,2,4]; throws on anything else. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new InvalidParameterError(`Invalid value ${list} for cpuset cpus`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new InvalidParameterError(`Invalid value ${list} for cpuset cpus`);
    for (let i = from; i <= to; i++) out.push(i);
  }
  return out;
}

export function checkResources(h: HostConfig, host: HostLimits, warnings: string[]): void {
  if (h.Memory < 0 || h.MemoryReservation < 0 || h.ShmSize < 0) throw new InvalidParameterError("invalid negative value for a memory or shm size setting");
  if (h.Memory > 0 && h.Memory < MIN_MEMORY) throw new InvalidParameterError("Minimum memory limit allowed is 6MB");
  if (h.MemorySwap > 0 && h.Memory === 0) throw new InvalidParameterError("You should always set the Memory limit when using Memoryswap limit, see usage");
  if (h.MemorySwap > 0 && h.MemorySwap < h.Memory) throw new InvalidParameterError("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (h.Memory > 0 && h.MemoryReservation > h.Memory) throw new InvalidParameterError("Minimum memory limit can not be less than memory reservation limit, see usage");
  if (h.Memory > 0 && !host.cgroup.memoryLimit) {
    warnings.push("Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.");
    h.Memory = 0;
    h.MemorySwap = 0;
  }
  if (h.Memory > 0 && h.MemorySwap !== -1 && !host.cgroup.swapLimit) {
    warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
    h.MemorySwap = -1;
  }
  if (h.NanoCpus !== 0) {
    if (h.CpuPeriod !== 0 || h.CpuQuota !== 0) throw new InvalidParameterError("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    if (h.NanoCpus < 0 || h.NanoCpus > host.ncpu * 1e9 || h.NanoCpus < 1e7)
      throw new InvalidParameterError(`Range of CPUs is from 0.01 to ${host.ncpu}.00, as there are only ${host.ncpu} CPUs available`);
  }
  if (h.CpuShares < 0) throw new InvalidParameterError("invalid CPU shares: must be positive");
  if (h.CpusetCpus) {
    const bad = parseCpuList(h.CpusetCpus).filter((cpu) => cpu >= host.ncpu);
    if (bad.length > 0) throw new InvalidParameterError(`Requested CPUs are not available - requested ${h.CpusetCpus}, available: 0-${host.ncpu - 1}`);
  }
  if (h.BlkioWeight !== 0 && (h.BlkioWeight < 10 || h.BlkioWeight > 1000)) throw new InvalidParameterError("Range of blkio weight is from 10 to 1000");
  if (h.PidsLimit !== null && h.PidsLimit <= 0) h.PidsLimit = null;
  if (h.PidsLimit !== null && !host.cgroup.pidsLimit) {
    warnings.push("Your kernel does not support pids limit capabilities or the cgroup is not mounted. PIDs limit discarded.");
    h.PidsLimit = null;
  }
  for (const u of h.Ulimits ?? []) {
    if (u.Soft > u.Hard && u.Hard !== -1) throw new InvalidParameterError(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
}

/** `--pid`, `--ipc`, `--uts`: the container's own namespace or the host's; joining another container's is not supported yet. */
function checkNamespaceModes(h: HostConfig): void {
  const allowed: [string, string | undefined, string[]][] = [
    ["pid", h.PidMode, ["", "private", "host"]],
    ["ipc", h.IpcMode, ["", "private", "shareable", "host"]],
    ["uts", h.UTSMode, ["", "host"]],
    ["userns", h.UsernsMode, ["", "host"]],
  ];
  for (const [flag, mode, ok] of allowed) if (mode && !ok.includes(mode)) throw new InvalidParameterError(`--${flag}=${mode} is not supported yet (supported: ${ok.filter(Boolean).join(", ")})`);
}

function checkCapabilities(names: string[] | null): void {
  for (const name of names ?? []) {
    try {
      normalizeCapabilityName(name);
    } catch (err) {
      if (err instanceof CapabilityError) throw new InvalidParameterError(err.message);
      throw err;
    }
  }
}

/** Fill in what the client left out, check everything, and collect warnings. */
export function normalizeHostConfig(raw: Partial<HostConfig> | undefined, host: HostLimits, warnings: string[]): HostConfig {
  const h: HostConfig = { ...DEFAULTS, ...raw } as HostConfig;
  for (const key of Object.keys(DEFAULTS) as (keyof HostConfig)[]) {
    (h as Record<string, unknown>)[key] = orDefault(h[key], DEFAULTS[key]);
  }
  if (!h.NetworkMode) h.NetworkMode = "default";
  if (h.ShmSize === 0) h.ShmSize = DEFAULT_SHM_SIZE;
  h.RestartPolicy = checkRestartPolicy(h.RestartPolicy, h.AutoRemove);
  h.LogConfig = parseLogConfig(h.LogConfig);
  checkResources(h, host, warnings);
  resolveDevices(h.Devices);
  checkNamespaceModes(h);
  checkCapabilities(h.CapAdd);
  checkCapabilities(h.CapDrop);
  parseSecurityOpts(h.SecurityOpt ?? []);
  checkSysctls(h.Sysctls ?? {}, h.NetworkMode);
  if (parseLinks(h.Links).length > 0 && (h.NetworkMode === "host" || h.NetworkMode.startsWith("container:")))
    throw new InvalidParameterError(`conflicting options: ${h.NetworkMode === "host" ? "host" : "container"} type networking can't be used with links. This would result in undefined behavior`);
  parseMounts({ Binds: h.Binds, Mounts: h.Mounts ?? null, Tmpfs: h.Tmpfs ?? null });
  for (const spec of h.VolumesFrom ?? []) parseVolumesFrom(spec);
  return h;
}
