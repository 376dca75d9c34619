/**
 * Which cgroup layout this host has, the manager for it, and what `docker info` should say about it.
 *   statfs(/sys/fs/cgroup) = cgroup2       → v2, unified
 *   statfs(/sys/fs/cgroup) = tmpfs         → v1: one mount per controller (found in mountinfo, not assumed);
 *                                            a cgroup2 mount beside them (hybrid) carries no controllers, so v1 is used
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { statfsType } from "../../libc/libc";
import { CgroupError, readOptional } from "./files";
import type { CgroupHostInfo, CgroupManager } from "./types";
import { CgroupV1Manager, V1_CONTROLLERS, type V1Controller } from "./v1";
import { CgroupV2Manager } from "./v2";

const CGROUP2_SUPER_MAGIC = 0x63677270n;
const TMPFS_MAGIC = 0x01021994n;

export interface CgroupLayout {
  version: "1" | "2";
  /** unified: v2 only; hybrid: v1 controllers plus a controller-less cgroup2 mount; legacy: v1 only. */
  mode: "unified" | "hybrid" | "legacy";
  /** The cgroup2 mount, if any (/sys/fs/cgroup when unified, /sys/fs/cgroup/unified on hybrid hosts). */
  unifiedMount?: string;
  /** v1 controller → mount point. */
  v1Mounts: Partial<Record<V1Controller, string>>;
}

interface MountEntry {
  mountpoint: string;
  fstype: string;
  superOptions: string[];
}

/** /proc/self/mountinfo: "id parent dev root mountpoint opts [optional…] - fstype source superopts". */
export function parseMountinfo(text: string): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-");
    if (dash < 6) continue;
    out.push({
      mountpoint: unescape(fields[4]!),
      fstype: fields[dash + 1]!,
      superOptions: (fields[dash + 3] ?? "").split(","),
    });
  }
  return out;
}

export function detectCgroupLayout(opts: { root?: string; mountinfo?: string } = {}): CgroupLayout {
  const root = opts.root ?? "/sys/fs/cgroup";
  const magic = statfsType(root);
  if (magic === CGROUP2_SUPER_MAGIC) return { version: "2", mode: "unified", unifiedMount: root, v1Mounts: {} };
  if (magic !== TMPFS_MAGIC) throw new CgroupError(`${root} is neither cgroup2 nor a tmpfs of v1 hierarchies (magic 0x${magic.toString(16)})`);

  const mounts = parseMountinfo(opts.mountinfo ?? readFileSync("/proc/self/mountinfo", "utf8"));
  const v1Mounts: Partial<Record<V1Controller, string>> = {};
  for (const m of mounts) {
    if (m.fstype !== "cgroup") continue;
    for (const controller of V1_CONTROLLERS) {
      if (m.superOptions.includes(controller)) v1Mounts[controller] ??= m.mountpoint;
    }
  }
  const unifiedMount = mounts.find((m) => m.fstype === "cgroup2" && m.mountpoint.startsWith(`${root}/`))?.mountpoint;
  if (Object.keys(v1Mounts).length === 0) throw new CgroupError(`no cgroup v1 controllers are mounted under ${root}`);
  return { version: "1", mode: unifiedMount ? "hybrid" : "legacy", ...(unifiedMount ? { unifiedMount } : {}), v1Mounts };
}

export interface CgroupManagerOptions {
  layout?: CgroupLayout;
  /** Parent of the containers' cgroups; "bunker" unless given. */
  parent?: string;
}

export function createCgroupManager(opts: CgroupManagerOptions = {}): CgroupManager {
  const layout = opts.layout ?? detectCgroupLayout();
  const parent = opts.parent ?? "bunker";
  if (layout.version === "2") return new CgroupV2Manager({ mountpoint: layout.unifiedMount!, parent });
  return new CgroupV1Manager({ mounts: layout.v1Mounts, parent });
}

/** The cgroup part of `docker info`: version, driver, and which limits work (for its warnings). */
export function cgroupHostInfo(layout: CgroupLayout): CgroupHostInfo {
  if (layout.version === "2") {
    const controllers = (readOptional(join(layout.unifiedMount!, "cgroup.controllers")) ?? "").split(/\s+/);
    const has = (c: string) => controllers.includes(c);
    return {
      version: "2", driver: "cgroupfs", memoryLimit: has("memory"), swapLimit: has("memory"), cpuCfsPeriod: has("cpu"),
      cpuCfsQuota: has("cpu"), cpuShares: has("cpu"), cpuSet: has("cpuset"), pidsLimit: has("pids"), blkioWeight: has("io"),
      oomKillDisable: false,
    };
  }
  const at = (controller: V1Controller, file: string) => {
    const mount = layout.v1Mounts[controller];
    return mount !== undefined && existsSync(join(mount, file));
  };
  return {
    version: "1", driver: "cgroupfs",
    memoryLimit: at("memory", "memory.limit_in_bytes"),
    swapLimit: at("memory", "memory.memsw.limit_in_bytes"),
    cpuCfsPeriod: at("cpu", "cpu.cfs_period_us"),
    cpuCfsQuota: at("cpu", "cpu.cfs_quota_us"),
    cpuShares: at("cpu", "cpu.shares"),
    cpuSet: at("cpuset", "cpuset.cpus"),
    pidsLimit: layout.v1Mounts.pids !== undefined,
    blkioWeight: at("blkio", "blkio.weight") || at("blkio", "blkio.bfq.weight"),
    oomKillDisable: false,
  };
}
