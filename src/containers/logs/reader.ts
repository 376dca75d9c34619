/** Reading json-file logs back for `docker logs`: oldest file first, filtered by stream and time, then tailed. */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parseRfc3339Ns } from "../time";
import { logFiles, type LogEntry } from "./json-file";

export interface LogQuery {
  stdout: boolean;
  stderr: boolean;
  /** ns since the epoch; entries at or after */
  sinceNs?: number;
  /** ns since the epoch; entries at or before */
  untilNs?: number;
  /** last N entries; undefined = all */
  tail?: number;
}

export function entryMatches(entry: LogEntry, q: LogQuery): boolean {
  if (entry.stream === "stdout" ? !q.stdout : !q.stderr) return false;
  if (q.sinceNs === undefined && q.untilNs === undefined) return true;
  const t = parseRfc3339Ns(entry.time);
  return (q.sinceNs === undefined || t >= q.sinceNs) && (q.untilNs === undefined || t <= q.untilNs);
}

function readAll(fd: number, size: number): string {
  const buf = Buffer.alloc(size);
  let got = 0;
  while (got < size) {
    const n = readSync(fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got).toString("utf8");
}

/**
 * The log files as they are at this instant: opened now (a rotation after this does not disturb the read,
 * the open files keep their content) and read up to their current size. Call it in the same tick as a
 * follow subscription so that no entry is missed or seen twice.
 */
export function snapshotLogs(path: string, maxFiles: number): () => LogEntry[] {
  const opened: { fd: number; size: number }[] = [];
  for (const file of logFiles(path, maxFiles).reverse()) {
    try {
      const fd = openSync(file, "r");
      opened.push({ fd, size: fstatSync(fd).size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return () => {
    const entries: LogEntry[] = [];
    try {
      for (const { fd, size } of opened) {
        for (const line of readAll(fd, size).split("\n")) {
          if (!line) continue;
          try {
            entries.push(JSON.parse(line) as LogEntry);
          } catch {
            // A torn last line (the daemon died mid-write) is skipped, as docker does.
          }
        }
      }
    } finally {
      for (const { fd } of opened) closeSync(fd);
    }
    return entries;
  };
}

export function selectEntries(entries: LogEntry[], q: LogQuery): LogEntry[] {
  const matching = entries.filter((e) => entryMatches(e, q));
  if (q.tail === undefined) return matching;
  return q.tail <= 0 ? [] : matching.slice(-q.tail);
}
