/** Listing and signalling the processes of a cgroup. */
import { join } from "node:path";
import { readOptional, subCgroups } from "./files";

export function parsePids(text: string): number[] {
  return text.split("\n").filter((l) => l.trim() !== "").map(Number);
}

/** cgroup.procs of `dir` and of every cgroup below it. */
export function readProcsRecursive(dir: string): number[] {
  const own = readOptional(join(dir, "cgroup.procs"));
  if (own === undefined) return [];
  return [...parsePids(own), ...subCgroups(dir).flatMap((child) => readProcsRecursive(child))];
}

/** Sends `signal` to each pid; a process that is already gone does not count. */
export function signalProcesses(pids: number[], signal: number): number {
  let signalled = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      signalled++;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }
  return signalled;
}
