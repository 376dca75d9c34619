/** cgroup v2: one unified tree; the parent delegates controllers to container cgroups through subtree_control. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, sep } from "node:path";
import {
  CgroupError, checkCgroupName, parseKeyValues, parseLimit, readControl, readOptional, removeCgroupTree, waitFor,
  writeControl,
} from "./files";
import { machineMemory, onlineCpus, systemCpuUsage } from "./host";
import { readProcsRecursive, signalProcesses } from "./processes";
import { blkioToIoWeight, cfsBandwidth, sharesToWeight, swapTotal } from "./resources";
import type { BlkioStatEntry, CgroupManager, CgroupResources, CgroupStats } from "./types";

/** Controllers containers get when the host offers them. */
const WANTED_CONTROLLERS = ["cpuset", "cpu", "io", "memory", "pids"];
const SIGKILL = 9;
const FREEZE_TIMEOUT_MS = 5000;

export interface CgroupV2Options {
  /** Where cgroup2 is mounted (/sys/fs/cgroup on a unified host). */
  mountpoint: string;
  /** The containers' parent, relative to the mount point, e.g. "bunker". */
  parent: string;
}

export class CgroupV2Manager implements CgroupManager {
  readonly version = "2";
  readonly driver = "cgroupfs";

  constructor(private readonly opts: CgroupV2Options) {}

  path(id: string): string {
    return join(this.opts.mountpoint, this.opts.parent, checkCgroupName(id));
  }

  async create(id: string, resources: CgroupResources): Promise<void> {
    this.delegateControllers();
    const dir = this.path(id);
    mkdirSync(dir, { recursive: true });
    try {
      this.apply(dir, resources, true);
    } catch (err) {
      await removeCgroupTree(dir).catch(() => undefined); // the apply error is the one worth reporting
      throw err;
    }
  }

  async update(id: string, resources: CgroupResources): Promise<void> {
    this.apply(this.path(id), resources, false);
  }

  join(id: string, pid: number): void {
    writeControl(join(this.path(id), "cgroup.procs"), pid);
  }

  selfJoinFiles(id: string): string[] {
    return [join(this.path(id), "cgroup.procs")];
  }

  pids(id: string): number[] {
    return readProcsRecursive(this.path(id));
  }

  async kill(id: string, signal: number): Promise<number> {
    const dir = this.path(id);
    const pids = this.pids(id);
    if (pids.length === 0) return 0;
    if (signal === SIGKILL && existsSync(join(dir, "cgroup.kill"))) {
      // The kernel kills the whole subtree at once, forks in flight included.
      writeControl(join(dir, "cgroup.kill"), 1);
      return pids.length;
    }
    return signalProcesses(pids, signal);
  }

  async freeze(id: string): Promise<void> {
    const dir = this.path(id);
    writeControl(join(dir, "cgroup.freeze"), 1);
    if (!(await waitFor(() => this.frozen(id), FREEZE_TIMEOUT_MS))) {
      writeControl(join(dir, "cgroup.freeze"), 0);
      throw new CgroupError(`timed out freezing ${dir}`, "ETIMEDOUT");
    }
  }

  async thaw(id: string): Promise<void> {
    const dir = this.path(id);
    writeControl(join(dir, "cgroup.freeze"), 0);
    if (!(await waitFor(() => !this.frozen(id), FREEZE_TIMEOUT_MS))) throw new CgroupError(`timed out thawing ${dir}`, "ETIMEDOUT");
  }

  frozen(id: string): boolean {
    return parseKeyValues(readOptional(join(this.path(id), "cgroup.events"))).frozen === 1;
  }

  oomKilled(id: string): boolean {
    return (parseKeyValues(readOptional(join(this.path(id), "memory.events"))).oom_kill ?? 0) > 0;
  }

  stats(id: string): CgroupStats {
    const dir = this.path(id);
    const file = (name: string) => readOptional(join(dir, name));
    const procStat = readFileSync("/proc/stat", "utf8");
    const machine = machineMemory();
    const limit = parseLimit(file("memory.max"));
    const cpu = parseKeyValues(file("cpu.stat"));
    const pidsLimit = parseLimit(file("pids.max"));
    const pidsCurrent = file("pids.current");
    return {
      memory_stats: {
        usage: Number(file("memory.current") ?? 0),
        limit: limit === undefined || limit > machine ? machine : limit,
        stats: parseKeyValues(file("memory.stat")),
      },
      cpu_stats: {
        cpu_usage: {
          total_usage: (cpu.usage_usec ?? 0) * 1000,
          usage_in_kernelmode: (cpu.system_usec ?? 0) * 1000,
          usage_in_usermode: (cpu.user_usec ?? 0) * 1000,
        },
        system_cpu_usage: systemCpuUsage(procStat),
        online_cpus: onlineCpus(procStat),
        throttling_data: {
          periods: cpu.nr_periods ?? 0,
          throttled_periods: cpu.nr_throttled ?? 0,
          throttled_time: (cpu.throttled_usec ?? 0) * 1000,
        },
      },
      pids_stats: {
        // Without the pids controller, count processes (pids.current would count threads).
        current: pidsCurrent !== undefined ? Number(pidsCurrent) : this.pids(id).length,
        ...(pidsLimit !== undefined ? { limit: pidsLimit } : {}),
      },
      blkio_stats: {
        io_service_bytes_recursive: parseIoStat(file("io.stat")),
        io_serviced_recursive: null,
        io_queue_recursive: null,
        io_service_time_recursive: null,
        io_wait_time_recursive: null,
        io_merged_recursive: null,
        io_time_recursive: null,
        sectors_recursive: null,
      },
    };
  }

  async destroy(id: string): Promise<void> {
    await removeCgroupTree(this.path(id));
  }

  /** Enables the wanted controllers (those the host offers) on every level from the root down to the parent. */
  private delegateControllers(): void {
    let dir = this.opts.mountpoint;
    for (const segment of ["", ...this.opts.parent.split(sep).filter(Boolean)]) {
      dir = join(dir, segment);
      mkdirSync(dir, { recursive: true });
      const available = words(readOptional(join(dir, "cgroup.controllers")));
      const enabled = words(readOptional(join(dir, "cgroup.subtree_control")));
      const missing = WANTED_CONTROLLERS.filter((c) => available.includes(c) && !enabled.includes(c));
      if (missing.length) writeControl(join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
    }
  }

  private apply(dir: string, r: CgroupResources, creating: boolean): void {
    const file = (name: string) => join(dir, name);
    const memory = r.memory !== undefined && r.memory > 0 ? r.memory : undefined;
    if (memory !== undefined) writeControl(file("memory.max"), memory);

    let total = swapTotal(r.memory, r.memorySwap, creating);
    const implicitSwap = r.memorySwap === undefined || r.memorySwap === 0;
    if (total !== undefined && implicitSwap && !existsSync(file("memory.swap.max"))) {
      total = undefined; // Docker's default swap, on a host without swap accounting: skip it
    }
    if (total !== undefined) {
      if (total === -1) writeControl(file("memory.swap.max"), "max");
      else {
        const limit = memory ?? parseLimit(readControl(file("memory.max")));
        if (limit === undefined) throw new CgroupError("a memory-swap limit needs a memory limit", "EINVAL");
        writeControl(file("memory.swap.max"), total - limit);
      }
    }
    if (r.memoryReservation !== undefined && r.memoryReservation > 0) writeControl(file("memory.low"), r.memoryReservation);

    const cfs = cfsBandwidth(r);
    if (cfs) {
      const [currentQuota = "max", currentPeriod = "100000"] = (readOptional(file("cpu.max")) ?? "").split(/\s+/);
      const quota = cfs.quota === undefined ? currentQuota : cfs.quota === -1 ? "max" : String(cfs.quota);
      writeControl(file("cpu.max"), `${quota} ${cfs.period ?? currentPeriod}`);
    }
    if (r.cpuShares !== undefined && r.cpuShares > 0) writeControl(file("cpu.weight"), sharesToWeight(r.cpuShares));
    if (r.cpusetCpus) writeControl(file("cpuset.cpus"), r.cpusetCpus);
    if (r.cpusetMems) writeControl(file("cpuset.mems"), r.cpusetMems);
    if (r.pidsLimit !== undefined && (r.pidsLimit > 0 || !creating)) {
      writeControl(file("pids.max"), r.pidsLimit > 0 ? r.pidsLimit : "max");
    }
    if (r.blkioWeight !== undefined && r.blkioWeight > 0) {
      if (existsSync(file("io.bfq.weight"))) writeControl(file("io.bfq.weight"), r.blkioWeight);
      else writeControl(file("io.weight"), `default ${blkioToIoWeight(r.blkioWeight)}`);
    }
    // Device access on v2 needs a BPF_PROG_TYPE_CGROUP_DEVICE program; r.devices is not applied here.
  }
}

function words(text: string | undefined): string[] {
  return (text ?? "").split(/\s+/).filter(Boolean);
}

/** io.stat lines "8:0 rbytes=1 wbytes=2 rios=3 …" → Docker's read/write byte entries. */
function parseIoStat(text: string | undefined): BlkioStatEntry[] {
  const out: BlkioStatEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const [device, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(device ?? "");
    if (!m) continue;
    const values = Object.fromEntries(fields.map((f) => f.split("=") as [string, string]));
    const entry = (op: string, key: string) => ({ major: Number(m[1]), minor: Number(m[2]), op, value: Number(values[key] ?? 0) });
    out.push(entry("read", "rbytes"), entry("write", "wbytes"));
  }
  return out;
}
