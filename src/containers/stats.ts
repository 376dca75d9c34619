/**
 * `GET /containers/{id}/stats`: docker's v1-shaped stats from the cgroup manager (v2 figures are mapped in by the
 * manager), with `precpu_stats` from the previous sample so that clients can compute CPU usage.
 */
import { readFileSync } from "node:fs";
import type { CgroupManager, CgroupStats } from "../../drivers/exec/cgroups";
import { nowRfc3339 } from "./time";
import { ZERO_TIME, type ContainerRecord } from "./types";

export interface NetworkCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** /proc/<pid>/net/dev of the container's network namespace, loopback left out as docker does. */
export function networkCounters(pid: number): Record<string, NetworkCounters> | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/net/dev`, "utf8");
  } catch {
    return undefined;
  }
  const out: Record<string, NetworkCounters> = {};
  for (const line of text.split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    out[m[1]!] = { rx_bytes: f[0]!, rx_packets: f[1]!, rx_errors: f[2]!, rx_dropped: f[3]!, tx_bytes: f[8]!, tx_packets: f[9]!, tx_errors: f[10]!, tx_dropped: f[11]! };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function emptyCpu(): CgroupStats["cpu_stats"] {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, system_cpu_usage: 0, online_cpus: 0, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

function emptyBlkio(): CgroupStats["blkio_stats"] {
  return {
    io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null,
    io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
  };
}

export interface StatsSample {
  read: string;
  stats: CgroupStats;
}

export function sample(cgroups: CgroupManager, id: string): StatsSample {
  return { read: nowRfc3339(), stats: cgroups.stats(id) };
}

/** One stats object; `previous` fills precpu_stats and preread. */
export function statsView(c: ContainerRecord, current: StatsSample | null, previous: StatsSample | null, pid: number | null): Record<string, unknown> {
  const networks = pid ? networkCounters(pid) : undefined;
  return {
    read: current?.read ?? ZERO_TIME,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: current?.stats.pids_stats ?? {},
    blkio_stats: current?.stats.blkio_stats ?? emptyBlkio(),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: current?.stats.cpu_stats ?? emptyCpu(),
    precpu_stats: previous?.stats.cpu_stats ?? emptyCpu(),
    memory_stats: current?.stats.memory_stats ?? {},
    name: `/${c.name}`,
    id: c.id,
    ...(networks ? { networks } : {}),
  };
}
