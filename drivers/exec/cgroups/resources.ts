/** Docker's resource semantics turned into the numbers cgroup files take, shared by v1 and v2. */
import { CgroupError } from "./files";
import type { CgroupResources, DeviceRule } from "./types";

const DEFAULT_CFS_PERIOD_US = 100_000;

/** The CFS quota/period pair asked for, or undefined when neither is given. quota -1 = unlimited. */
export function cfsBandwidth(r: CgroupResources): { quota?: number; period?: number } | undefined {
  if (r.nanoCpus !== undefined && r.nanoCpus > 0) {
    const period = DEFAULT_CFS_PERIOD_US;
    // The kernel refuses quotas under 1 ms.
    return { quota: Math.max(1000, Math.round((r.nanoCpus * period) / 1e9)), period };
  }
  if (r.cpuQuota === undefined && r.cpuPeriod === undefined) return undefined;
  const out: { quota?: number; period?: number } = {};
  if (r.cpuQuota !== undefined) out.quota = r.cpuQuota > 0 ? r.cpuQuota : -1;
  if (r.cpuPeriod !== undefined && r.cpuPeriod > 0) out.period = r.cpuPeriod;
  return out;
}

/** cpu.shares (2–262144) → cpu.weight (1–10000), the mapping runc and crun use. */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 100;
  const clamped = Math.min(262144, Math.max(2, shares));
  return 1 + Math.floor(((clamped - 2) * 9999) / 262142);
}

/** blkio.weight (10–1000) → io.weight (1–10000). */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * Docker's memory + swap total as the pair of limits the kernel wants. Returns swapTotal (v1 memsw) as bytes
 * or -1 for unlimited; undefined when swap is not to be written.
 */
export function swapTotal(memory: number | undefined, memorySwap: number | undefined, creating: boolean): number | undefined {
  if (memorySwap === -1) return -1;
  if (memorySwap !== undefined && memorySwap > 0) {
    if (memory !== undefined && memory > 0 && memorySwap < memory) {
      throw new CgroupError("Minimum memoryswap limit should be larger than memory limit, see usage", "EINVAL");
    }
    return memorySwap;
  }
  if (creating && memory !== undefined && memory > 0) return memory * 2;
  return undefined;
}

/**
 * What a container may touch in /dev without `--privileged` or `--device` (runc's and Docker's defaults): the
 * null/zero/full/random/urandom/tty/console/ptmx/pts nodes and tun, plus mknod of anything (opening still needs
 * an allow rule).
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  { allow: false, type: "a", major: "*", minor: "*", access: "rwm" },
  { allow: true, type: "c", major: "*", minor: "*", access: "m" },
  { allow: true, type: "b", major: "*", minor: "*", access: "m" },
  ...[[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 200]].map(
    ([major, minor]): DeviceRule => ({ allow: true, type: "c", major: major!, minor: minor!, access: "rwm" }),
  ),
  { allow: true, type: "c", major: 136, minor: "*", access: "rwm" },
];

/** Everything: what `--privileged` gets. */
export const ALLOW_ALL_DEVICES: readonly DeviceRule[] = [{ allow: true, type: "a", major: "*", minor: "*", access: "rwm" }];

/** The line devices.allow / devices.deny take. */
export function deviceRuleLine(rule: DeviceRule): string {
  if (!/^[rwm]{1,3}$/.test(rule.access)) throw new CgroupError(`invalid device access ${JSON.stringify(rule.access)}`, "EINVAL");
  return `${rule.type} ${rule.major}:${rule.minor} ${rule.access}`;
}
