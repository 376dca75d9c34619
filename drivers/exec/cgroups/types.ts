/**
 * The cgroup seam: one manager per host layout (v1 per-controller hierarchies, or the v2 unified tree), each
 * container a cgroup named by its id under a common parent (e.g. `bunker`).
 */

/** Container limits, in Docker's HostConfig units. A field left out is not written (create: no limit; update: unchanged). */
export interface CgroupResources {
  /** Memory limit in bytes; 0 = none. */
  memory?: number;
  /**
   * Docker's `--memory-swap`: memory + swap in bytes; -1 = unlimited swap. On create, when only `memory` is set,
   * swap defaults to the same amount again (total twice the memory), as Docker does.
   */
  memorySwap?: number;
  /** Soft limit in bytes (v1 soft_limit_in_bytes, v2 memory.low). */
  memoryReservation?: number;
  /** `--cpus` × 1e9; turned into a CFS quota over a 100 ms period. Wins over cpuQuota/cpuPeriod. */
  nanoCpus?: number;
  /** CFS period in µs. */
  cpuPeriod?: number;
  /** CFS quota in µs per period; -1 = none. */
  cpuQuota?: number;
  /** Relative weight, 2–262144 (v2: converted to cpu.weight). */
  cpuShares?: number;
  /** e.g. "0-2,4" */
  cpusetCpus?: string;
  cpusetMems?: string;
  /** Max tasks; 0 or -1 = unlimited. */
  pidsLimit?: number;
  /** 10–1000 (v2: io.bfq.weight as is, or io.weight converted). */
  blkioWeight?: number;
  /** Device access (v1 devices controller). On create, when left out, DEFAULT_DEVICE_RULES apply. */
  devices?: DeviceRule[];
}

export interface DeviceRule {
  allow: boolean;
  /** a = all, c = char, b = block */
  type: "a" | "c" | "b";
  major: number | "*";
  minor: number | "*";
  /** some of "rwm" */
  access: string;
}

// ---- stats, in the shapes of Docker's /containers/{id}/stats (v1-shaped; v2 values are mapped in) ----

export interface MemoryStats {
  usage: number;
  /** v1 only */
  max_usage?: number;
  /** v1 only */
  failcnt?: number;
  /** The limit, or the host's memory when there is none. */
  limit: number;
  /** memory.stat as is (v1 names on v1, v2 names on v2: the docker CLI handles both). */
  stats: Record<string, number>;
}

export interface CpuStats {
  cpu_usage: {
    total_usage: number;
    /** v1 only */
    percpu_usage?: number[];
    usage_in_kernelmode: number;
    usage_in_usermode: number;
  };
  /** Host CPU time in ns, from /proc/stat. */
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface PidsStats {
  current: number;
  /** Omitted when unlimited. */
  limit?: number;
}

export interface BlkioStatEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface BlkioStats {
  io_service_bytes_recursive: BlkioStatEntry[] | null;
  io_serviced_recursive: BlkioStatEntry[] | null;
  io_queue_recursive: BlkioStatEntry[] | null;
  io_service_time_recursive: BlkioStatEntry[] | null;
  io_wait_time_recursive: BlkioStatEntry[] | null;
  io_merged_recursive: BlkioStatEntry[] | null;
  io_time_recursive: BlkioStatEntry[] | null;
  sectors_recursive: BlkioStatEntry[] | null;
}

export interface CgroupStats {
  memory_stats: MemoryStats;
  cpu_stats: CpuStats;
  pids_stats: PidsStats;
  blkio_stats: BlkioStats;
}

/**
 * Lifecycle: create → the launched process joins itself (selfJoinFiles) before it runs anything →
 * update/freeze/thaw/stats while it runs → kill → destroy once it has exited. `id` must be a plain name (no
 * slashes).
 */
export interface CgroupManager {
  readonly version: "1" | "2";
  readonly driver: "cgroupfs";
  /** Creates the container's cgroup (and the parent, enabling controllers on v2) and applies the limits. */
  create(id: string, resources: CgroupResources): Promise<void>;
  update(id: string, resources: CgroupResources): Promise<void>;
  /** Moves the whole process `pid` in: one cgroup.procs write per hierarchy. */
  join(id: string, pid: number): void;
  /**
   * The files a single-threaded process writes "0" into to move itself in, one per hierarchy: v1 `tasks`
   * (a thread moving itself spares the kernel's global threadgroup lock and the RCU grace period its write
   * side waits for, ~10 ms, which join() pays), v2 `cgroup.procs` (v2 moves only whole processes).
   */
  selfJoinFiles(id: string): string[];
  /** Every process in the container's cgroup, sub-cgroups included. */
  pids(id: string): number[];
  /** Signals every process; resolves to how many were signalled. */
  kill(id: string, signal: number): Promise<number>;
  freeze(id: string): Promise<void>;
  thaw(id: string): Promise<void>;
  frozen(id: string): boolean;
  /** Whether the kernel's OOM killer has killed a process in this cgroup. */
  oomKilled(id: string): boolean;
  stats(id: string): CgroupStats;
  /** Removes the cgroup; retries while exiting processes drain. Missing cgroups are fine. */
  destroy(id: string): Promise<void>;
}

/** What `docker info` reports about cgroups, and which limits it can warn about. */
export interface CgroupHostInfo {
  version: "1" | "2";
  driver: "cgroupfs";
  memoryLimit: boolean;
  swapLimit: boolean;
  cpuCfsPeriod: boolean;
  cpuCfsQuota: boolean;
  cpuShares: boolean;
  cpuSet: boolean;
  pidsLimit: boolean;
  blkioWeight: boolean;
  oomKillDisable: false;
}
