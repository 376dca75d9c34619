/**
 * `GET /containers/{id}/top`: the processes in the container's cgroup. Without ps arguments (or with `-ef`, what
 * docker passes by default) the rows are read from /proc with `ps -ef`'s columns; with other arguments the host's
 * `ps` runs and its rows are filtered to the container's pids, as dockerd does.
 */
import { existsSync, readFileSync } from "node:fs";
import { InvalidParameterError, SystemError } from "../errors";

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

const CLOCK_TICKS = 100;

function hostUserNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && !names.has(Number(f[2]))) names.set(Number(f[2]), f[0]!);
    }
  } catch {}
  return names;
}

function bootTimeSec(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"));
  return m ? Number(m[1]) : 0;
}

function clock(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / 86400);
  const hms = [Math.floor((totalSeconds % 86400) / 3600), Math.floor((totalSeconds % 3600) / 60), totalSeconds % 60].map((n) => String(n).padStart(2, "0")).join(":");
  return days > 0 ? `${days}-${hms}` : hms;
}

function ttyName(ttyNr: number): string {
  if (ttyNr === 0) return "?";
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  return major === 136 ? `pts/${minor}` : major === 4 ? `tty${minor}` : "?";
}

/** One `ps -ef` row from /proc, or null when the process is already gone. */
function psRow(pid: number, users: Map<number, string>, boot: number, now: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(f[1]);
    const ttyNr = Number(f[4]);
    const cpuSeconds = (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
    const startSec = boot + Number(f[19]) / CLOCK_TICKS;
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const elapsed = Math.max(1, now - startSec);
    const started = new Date(startSec * 1000);
    const stime = `${String(started.getHours()).padStart(2, "0")}:${String(started.getMinutes()).padStart(2, "0")}`;
    return [users.get(uid) ?? String(uid), String(pid), String(ppid), String(Math.floor((cpuSeconds * 100) / elapsed)), stime, ttyName(ttyNr), clock(Math.floor(cpuSeconds)), cmdline || `[${comm}]`];
  } catch {
    return null;
  }
}

export function topFromProc(pids: number[]): TopResult {
  const users = hostUserNames();
  const boot = bootTimeSec();
  const now = Date.now() / 1000;
  return {
    Titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
    Processes: pids.sort((a, b) => a - b).flatMap((pid) => {
      const row = psRow(pid, users, boot, now);
      return row ? [row] : [];
    }),
  };
}

/** The host's ps with the caller's arguments, rows filtered to `pids` (found through the PID column). */
export async function topWithPs(args: string, pids: number[]): Promise<TopResult> {
  const ps = ["/usr/bin/ps", "/bin/ps"].find((p) => existsSync(p));
  if (!ps) throw new SystemError("ps is not installed on the host: only the default columns are available");
  const proc = Bun.spawn([ps, ...args.split(/\s+/).filter(Boolean)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new InvalidParameterError(`Error running ps: exit status ${code}: ${err.trim()}`);
  const lines = out.split("\n").filter((l) => l.trim() !== "");
  const titles = lines[0]?.trim().split(/\s+/) ?? [];
  const pidColumn = titles.indexOf("PID");
  if (pidColumn < 0) throw new InvalidParameterError(`Couldn't find PID field in ps output`);
  const wanted = new Set(pids);
  const processes = lines.slice(1).flatMap((line) => {
    const fields = line.trim().split(/\s+/);
    if (!wanted.has(Number(fields[pidColumn]))) return [];
    // The last column (the command) may contain spaces: keep it whole.
    return [[...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(" ")]];
  });
  return { Titles: titles, Processes: processes };
}

export function top(psArgs: string, pids: number[]): Promise<TopResult> | TopResult {
  const args = psArgs.trim();
  return args === "" || args === "-ef" ? topFromProc(pids) : topWithPs(args, pids);
}
