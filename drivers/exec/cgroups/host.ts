/** Host-wide figures the stats need: total CPU time, online CPUs, memory size. */
import { readFileSync } from "node:fs";

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture we run on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Host CPU time in ns, summed as Docker does (user nice system idle iowait irq softirq of the "cpu" line). */
export function systemCpuUsage(procStat = readFileSync("/proc/stat", "utf8")): number {
  const line = procStat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) return 0;
  const ticks = line.trim().split(/\s+/).slice(1, 8).reduce((sum, v) => sum + Number(v), 0);
  return (ticks * 1e9) / CLOCK_TICKS_PER_SECOND;
}

export function onlineCpus(procStat = readFileSync("/proc/stat", "utf8")): number {
  return procStat.split("\n").filter((l) => /^cpu\d+ /.test(l)).length;
}

/** MemTotal in bytes: the "limit" Docker reports for a container without one. */
export function machineMemory(meminfo = readFileSync("/proc/meminfo", "utf8")): number {
  const kib = /^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1];
  return kib ? Number(kib) * 1024 : 0;
}
