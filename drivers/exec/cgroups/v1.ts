/** cgroup v1: one hierarchy per controller (or per co-mounted group); the container gets a directory in each. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  CgroupError, checkCgroupName, parseKeyValues, parseLimit, readControl, readOptional, removeCgroupTree, waitFor,
  writeControl,
} from "./files";
import { machineMemory, onlineCpus, systemCpuUsage } from "./host";
import { readProcsRecursive, signalProcesses } from "./processes";
import { cfsBandwidth, DEFAULT_DEVICE_RULES, deviceRuleLine, swapTotal } from "./resources";
import type { BlkioStatEntry, CgroupManager, CgroupResources, CgroupStats, DeviceRule } from "./types";

/** The v1 controllers a container is placed in. */
export const V1_CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "devices"] as const;
export type V1Controller = (typeof V1_CONTROLLERS)[number];

const SIGKILL = 9;
const FREEZE_TIMEOUT_MS = 5000;
/** cpuacct.stat counts USER_HZ (1/100 s) ticks. */
const NS_PER_TICK = 10_000_000;

export interface CgroupV1Options {
  /** Mount point of each controller's hierarchy, from /proc/self/mountinfo. */
  mounts: Partial<Record<V1Controller, string>>;
  /** The containers' parent inside each hierarchy, e.g. "bunker". */
  parent: string;
}

export class CgroupV1Manager implements CgroupManager {
  readonly version = "1";
  readonly driver = "cgroupfs";

  constructor(private readonly opts: CgroupV1Options) {}

  /** The container's directory in the hierarchy holding `controller`, or undefined if it is not mounted. */
  path(controller: V1Controller, id: string): string | undefined {
    const mount = this.opts.mounts[controller];
    return mount === undefined ? undefined : join(mount, this.opts.parent, checkCgroupName(id));
  }

  /** One directory per distinct hierarchy (co-mounted controllers share one). */
  private dirs(id: string): string[] {
    return [...new Set(V1_CONTROLLERS.flatMap((c) => this.path(c, id) ?? []))];
  }

  private required(controller: V1Controller, id: string): string {
    const dir = this.path(controller, id);
    if (dir === undefined) throw new CgroupError(`cgroup v1 controller ${controller} is not mounted`, "ENOENT");
    return dir;
  }

  async create(id: string, resources: CgroupResources): Promise<void> {
    const cpusetDir = this.path("cpuset", id);
    try {
      for (const dir of this.dirs(id)) {
        if (dir === cpusetDir) {
          // New cpuset cgroups start with no CPUs and no memory nodes; nothing could run in them.
          for (const level of [dirname(dir), dir]) {
            mkdirSync(level, { recursive: true });
            inheritCpuset(level);
          }
        } else {
          mkdirSync(dir, { recursive: true });
        }
      }
      this.apply(id, resources, true);
    } catch (err) {
      await this.destroy(id).catch(() => undefined); // the creation error is the one worth reporting
      throw err;
    }
  }

  async update(id: string, resources: CgroupResources): Promise<void> {
    this.apply(id, resources, false);
  }

  join(id: string, pid: number): void {
    for (const dir of this.dirs(id)) writeControl(join(dir, "cgroup.procs"), pid);
  }

  selfJoinFiles(id: string): string[] {
    return this.dirs(id).map((dir) => join(dir, "tasks"));
  }

  pids(id: string): number[] {
    const dir = this.path("pids", id) ?? this.path("memory", id) ?? this.dirs(id)[0];
    return dir === undefined ? [] : readProcsRecursive(dir);
  }

  /**
   * Freezes first so nothing forks between reading cgroup.procs and signalling. A container that was paused
   * stays paused, except for SIGKILL, which only lands once it is thawed.
   */
  async kill(id: string, signal: number): Promise<number> {
    if (this.pids(id).length === 0) return 0;
    if (this.path("freezer", id) === undefined) return signalProcesses(this.pids(id), signal);
    const wasFrozen = this.frozen(id);
    if (!wasFrozen) await this.freeze(id);
    try {
      return signalProcesses(this.pids(id), signal);
    } finally {
      if (!wasFrozen || signal === SIGKILL) await this.thaw(id);
    }
  }

  async freeze(id: string): Promise<void> {
    const state = join(this.required("freezer", id), "freezer.state");
    writeControl(state, "FROZEN");
    if (!(await waitFor(() => readControl(state) === "FROZEN", FREEZE_TIMEOUT_MS))) {
      writeControl(state, "THAWED");
      throw new CgroupError(`timed out freezing ${dirname(state)}`, "ETIMEDOUT");
    }
  }

  async thaw(id: string): Promise<void> {
    const state = join(this.required("freezer", id), "freezer.state");
    writeControl(state, "THAWED");
    if (!(await waitFor(() => readControl(state) === "THAWED", FREEZE_TIMEOUT_MS))) {
      throw new CgroupError(`timed out thawing ${dirname(state)}`, "ETIMEDOUT");
    }
  }

  frozen(id: string): boolean {
    const dir = this.path("freezer", id);
    return dir !== undefined && readOptional(join(dir, "freezer.state")) === "FROZEN";
  }

  oomKilled(id: string): boolean {
    const dir = this.path("memory", id);
    return dir !== undefined && (parseKeyValues(readOptional(join(dir, "memory.oom_control"))).oom_kill ?? 0) > 0;
  }

  stats(id: string): CgroupStats {
    const read = (controller: V1Controller, name: string) => {
      const dir = this.path(controller, id);
      return dir === undefined ? undefined : readOptional(join(dir, name));
    };
    const num = (text: string | undefined) => Number(text ?? 0);
    const procStat = readFileSync("/proc/stat", "utf8");
    const machine = machineMemory();
    const limit = parseLimit(read("memory", "memory.limit_in_bytes"));
    const cpuacctStat = parseKeyValues(read("cpuacct", "cpuacct.stat"));
    const kernelNs = read("cpuacct", "cpuacct.usage_sys");
    const userNs = read("cpuacct", "cpuacct.usage_user");
    const throttling = parseKeyValues(read("cpu", "cpu.stat"));
    const pidsLimit = parseLimit(read("pids", "pids.max"));
    return {
      memory_stats: {
        usage: num(read("memory", "memory.usage_in_bytes")),
        max_usage: num(read("memory", "memory.max_usage_in_bytes")),
        failcnt: num(read("memory", "memory.failcnt")),
        limit: limit === undefined || limit > machine ? machine : limit,
        stats: parseKeyValues(read("memory", "memory.stat")),
      },
      cpu_stats: {
        cpu_usage: {
          total_usage: num(read("cpuacct", "cpuacct.usage")),
          percpu_usage: (read("cpuacct", "cpuacct.usage_percpu") ?? "").split(/\s+/).filter(Boolean).map(Number),
          usage_in_kernelmode: kernelNs !== undefined ? Number(kernelNs) : (cpuacctStat.system ?? 0) * NS_PER_TICK,
          usage_in_usermode: userNs !== undefined ? Number(userNs) : (cpuacctStat.user ?? 0) * NS_PER_TICK,
        },
        system_cpu_usage: systemCpuUsage(procStat),
        online_cpus: onlineCpus(procStat),
        throttling_data: {
          periods: throttling.nr_periods ?? 0,
          throttled_periods: throttling.nr_throttled ?? 0,
          throttled_time: throttling.throttled_time ?? 0,
        },
      },
      pids_stats: {
        current: num(read("pids", "pids.current")),
        ...(pidsLimit !== undefined ? { limit: pidsLimit } : {}),
      },
      blkio_stats: {
        io_service_bytes_recursive: parseBlkio(read("blkio", "blkio.throttle.io_service_bytes_recursive")),
        io_serviced_recursive: parseBlkio(read("blkio", "blkio.throttle.io_serviced_recursive")),
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
    for (const dir of this.dirs(id)) await removeCgroupTree(dir);
  }

  private apply(id: string, r: CgroupResources, creating: boolean): void {
    const file = (controller: V1Controller, name: string) => join(this.required(controller, id), name);

    const memory = r.memory !== undefined && r.memory > 0 ? r.memory : undefined;
    let total = swapTotal(r.memory, r.memorySwap, creating);
    const implicitSwap = r.memorySwap === undefined || r.memorySwap === 0;
    if (total !== undefined && implicitSwap && !existsSync(file("memory", "memory.memsw.limit_in_bytes"))) {
      total = undefined; // Docker's default swap, on a host without swap accounting: skip it
    }
    if (memory !== undefined || total !== undefined) setMemory(this.required("memory", id), memory, total);
    if (r.memoryReservation !== undefined && r.memoryReservation > 0) {
      writeControl(file("memory", "memory.soft_limit_in_bytes"), r.memoryReservation);
    }

    const cfs = cfsBandwidth(r);
    if (cfs?.period !== undefined) writeControl(file("cpu", "cpu.cfs_period_us"), cfs.period);
    if (cfs?.quota !== undefined) writeControl(file("cpu", "cpu.cfs_quota_us"), cfs.quota);
    if (r.cpuShares !== undefined && r.cpuShares > 0) writeControl(file("cpu", "cpu.shares"), r.cpuShares);
    if (r.cpusetCpus) writeControl(file("cpuset", "cpuset.cpus"), r.cpusetCpus);
    if (r.cpusetMems) writeControl(file("cpuset", "cpuset.mems"), r.cpusetMems);
    if (r.pidsLimit !== undefined && (r.pidsLimit > 0 || !creating)) {
      writeControl(file("pids", "pids.max"), r.pidsLimit > 0 ? r.pidsLimit : "max");
    }
    if (r.blkioWeight !== undefined && r.blkioWeight > 0) {
      const plain = file("blkio", "blkio.weight");
      writeControl(existsSync(plain) ? plain : file("blkio", "blkio.bfq.weight"), r.blkioWeight);
    }

    const devicesDir = this.path("devices", id);
    if (r.devices !== undefined) applyDeviceRules(this.required("devices", id), r.devices);
    else if (creating && devicesDir !== undefined) applyDeviceRules(devicesDir, DEFAULT_DEVICE_RULES);
  }
}

/** Copies cpuset.cpus/mems from the parent when empty. */
function inheritCpuset(dir: string): void {
  for (const name of ["cpuset.cpus", "cpuset.mems"]) {
    if (readControl(join(dir, name)) === "") writeControl(join(dir, name), readControl(join(dirname(dir), name)));
  }
}

/**
 * memory.limit_in_bytes must never exceed memory.memsw.limit_in_bytes, so the order of the two writes depends
 * on whether the memsw limit grows or shrinks.
 */
function setMemory(dir: string, memory: number | undefined, total: number | undefined): void {
  const limitFile = join(dir, "memory.limit_in_bytes");
  const memswFile = join(dir, "memory.memsw.limit_in_bytes");
  const writeLimit = () => memory !== undefined && writeControl(limitFile, memory);
  const writeMemsw = () => total !== undefined && writeControl(memswFile, total);
  const currentMemsw = parseLimit(readOptional(memswFile)) ?? Number.MAX_SAFE_INTEGER;
  if (total !== undefined && (total === -1 || total >= currentMemsw)) {
    writeMemsw();
    writeLimit();
  } else {
    writeLimit();
    writeMemsw();
  }
}

function applyDeviceRules(dir: string, rules: readonly DeviceRule[]): void {
  for (const rule of rules) writeControl(join(dir, rule.allow ? "devices.allow" : "devices.deny"), deviceRuleLine(rule));
}

/** blkio "8:0 Read 1234" lines → entries; the trailing "Total" line has no device and is dropped. */
function parseBlkio(text: string | undefined): BlkioStatEntry[] | null {
  if (text === undefined) return null;
  const out: BlkioStatEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}
