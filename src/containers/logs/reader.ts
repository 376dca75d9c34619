/** Reading json-file logs back for `docker logs`: oldest file first, filtered by stream and time, then tailed. */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { parseRfc3339Ns } from "../time";
import { logFiles, parseEntries, type LogEntry } from "./json-file";

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

/** Bytes [from, to) of an open file. */
export function readRange(fd: number, from: number, to: number): Buffer {
  const buf = Buffer.alloc(to - from);
  let got = 0;
  while (got < buf.length) {
    const n = readSync(fd, buf, got, buf.length - got, from + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** One log file opened at an instant, with its size then. */
export interface OpenedLog {
  path: string;
  fd: number;
  size: number;
}

/** The files that exist now, oldest first (a rotation after this does not disturb them: open files keep their content). */
export function openLogFiles(path: string, maxFiles: number): OpenedLog[] {
  const opened: OpenedLog[] = [];
  for (const file of logFiles(path, maxFiles).reverse()) {
    try {
      const fd = openSync(file, "r");
      opened.push({ path: file, fd, size: fstatSync(fd).size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return opened;
}

/** The entries of opened files up to the sizes they had when opened. */
export function readOpened(files: OpenedLog[]): LogEntry[] {
  return files.flatMap((f) => parseEntries(readRange(f.fd, 0, f.size).toString("utf8")));
}

/**
 * The log files as they are at this instant, read when the returned function is called (and closed then).
 */
export function snapshotLogs(path: string, maxFiles: number): () => LogEntry[] {
  const opened = openLogFiles(path, maxFiles);
  return () => {
    try {
      return readOpened(opened);
    } finally {
      for (const { fd } of opened) closeSync(fd);
    }
  };
}

export function selectEntries(entries: LogEntry[], q: LogQuery): LogEntry[] {
  const matching = entries.filter((e) => entryMatches(e, q));
  if (q.tail === undefined) return matching;
  return q.tail <= 0 ? [] : matching.slice(-q.tail);
}
