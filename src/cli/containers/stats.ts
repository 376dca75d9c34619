/** `stats [--no-stream] [-a] [CONTAINER...]`: docker's table, with its CPU and memory arithmetic. */
import type { Client } from "../../client/client";
import { humanSize } from "../../util/units";
import { formatTable, parseFormat, renderTemplate, tableHeader } from "../template";
import { bool, str, type FlagSpec, type FlagValues } from "./argv";
import { bytesSize } from "../../util/units";

export const STATS_FLAGS: readonly FlagSpec[] = [
  { name: "all", short: "a", kind: "bool" },
  { name: "no-stream", kind: "bool" },
  { name: "no-trunc", kind: "bool" },
  { name: "format", kind: "string" },
];

interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

interface Stats {
  id: string;
  name: string;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
  blkio_stats: { io_service_bytes_recursive: { op: string; value: number }[] | null };
  pids_stats: { current?: number };
}

const HEADERS: Record<string, string> = { Container: "CONTAINER ID", ID: "CONTAINER ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET I/O", BlockIO: "BLOCK I/O", PIDs: "PIDS" };
const DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

function cpuPercent(s: Stats): number {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  return systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
}

/** Memory in use without the page cache that could be reclaimed (docker's calculateMemUsageUnixNoCache). */
function memoryUsage(m: Stats["memory_stats"]): number {
  const usage = m.usage ?? 0;
  const inactive = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0;
  return inactive < usage ? usage - inactive : usage;
}

function fields(s: Stats, noTrunc: boolean): Record<string, string> {
  const mem = memoryUsage(s.memory_stats);
  const limit = s.memory_stats.limit ?? 0;
  const net = Object.values(s.networks ?? {}).reduce((a, n) => [a[0]! + n.rx_bytes, a[1]! + n.tx_bytes], [0, 0]);
  const blk = (s.blkio_stats.io_service_bytes_recursive ?? []).reduce(
    (a, e) => (e.op.toLowerCase() === "read" ? [a[0]! + e.value, a[1]!] : e.op.toLowerCase() === "write" ? [a[0]!, a[1]! + e.value] : a),
    [0, 0],
  );
  const id = noTrunc ? s.id : s.id.slice(0, 12);
  return {
    ID: id,
    Container: id,
    Name: s.name.replace(/^\//, ""),
    CPUPerc: `${cpuPercent(s).toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit > 0 ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSize(net[0]!, 3)} / ${humanSize(net[1]!, 3)}`,
    BlockIO: `${humanSize(blk[0]!, 3)} / ${humanSize(blk[1]!, 3)}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

function render(samples: Stats[], format: string, noTrunc: boolean): string {
  const { table, template } = parseFormat(format);
  const rows = samples.map((s) => renderTemplate(template, fields(s, noTrunc)));
  if (!table) return rows.map((r) => `${r}\n`).join("");
  return formatTable([tableHeader(template, HEADERS), ...rows].map((l) => l.split("\t")));
}

export async function statsCommand(client: Client, flags: FlagValues, refs: string[]): Promise<number> {
  const targets = refs.length > 0 ? refs : (await client.json<{ Id: string }[]>("GET", "/containers/json", { query: { all: bool(flags.all) || undefined } })).map((c) => c.Id);
  const format = str(flags.format) ?? DEFAULT_FORMAT;
  const noTrunc = bool(flags["no-trunc"]);
  if (bool(flags["no-stream"])) {
    const samples = await Promise.all(targets.map((t) => client.json<Stats>("GET", `/containers/${t}/stats`, { query: { stream: 0 } })));
    process.stdout.write(render(samples, format, noTrunc));
    return 0;
  }
  const latest = new Map<string, Stats>();
  const redraw = () => {
    if (process.stdout.isTTY) process.stdout.write("\x1b[2J\x1b[H");
    process.stdout.write(render(targets.flatMap((t) => latest.get(t) ?? []), format, noTrunc));
  };
  await Promise.all(
    targets.map(async (t) => {
      const res = await client.request("GET", `/containers/${t}/stats`, { query: { stream: 1 } });
      for await (const s of client.jsonLines<Stats>(res)) {
        latest.set(t, s);
        redraw();
      }
    }),
  );
  return 0;
}
