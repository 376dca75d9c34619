/**
 * `GET /containers/{id}/logs`: the stored entries (since/until/tail, stdout/stderr), then with `follow` the ones
 * the keeper appends until the container stops or the client goes away — framed per stream unless the
 * container has a TTY.
 */
import { closeSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { frame } from "../io/stdcopy";
import { fixedNanoStamp, parseRfc3339Ns } from "../time";
import type { LogEntry } from "./json-file";
import { entryMatches, openLogFiles, readOpened, selectEntries, type LogQuery } from "./reader";
import { LogTail } from "./tail";

export interface LogStreamOptions {
  path: string;
  maxFiles: number;
  /** Settles when the container's current run has ended; null when it is not running (nothing to follow). */
  runEnded: Promise<void> | null;
  query: LogQuery;
  follow: boolean;
  timestamps: boolean;
  tty: boolean;
  signal: AbortSignal;
}

/** Changes in the log's directory wake the follower; this poll is the fallback (a missed or unavailable watch). */
const WATCHED_POLL_MS = 1000;
const UNWATCHED_POLL_MS = 100;

function encode(entry: LogEntry, timestamps: boolean, tty: boolean): Uint8Array {
  const payload = Buffer.from(timestamps ? `${fixedNanoStamp(entry.time)} ${entry.log}` : entry.log);
  return tty ? payload : frame(entry.stream, payload);
}

export async function* logStream(o: LogStreamOptions): AsyncGenerator<Uint8Array> {
  const following = o.follow && o.runEnded !== null;
  const files = openLogFiles(o.path, o.maxFiles);
  // The current file stays open: following continues exactly where the history ends.
  const current = following ? files.find((f) => f.path === o.path) : undefined;
  const tail = following ? new LogTail(o.path, current?.fd ?? null, current?.size ?? 0) : null;
  let wake: (() => void) | null = null;
  const notify = () => wake?.();
  let ended = false;
  let watcher: FSWatcher | null = null;
  o.signal.addEventListener("abort", notify);
  try {
    let history: LogEntry[];
    try {
      history = readOpened(files);
    } finally {
      for (const f of files) if (f !== current) closeSync(f.fd);
    }
    for (const entry of selectEntries(history, o.query)) yield encode(entry, o.timestamps, o.tty);
    if (!tail) return;
    void o.runEnded!.then(() => {
      ended = true;
      notify();
    });
    try {
      watcher = watch(dirname(o.path), notify);
    } catch {
      watcher = null;
    }
    const pollMs = watcher ? WATCHED_POLL_MS : UNWATCHED_POLL_MS;
    for (;;) {
      // Read after noticing the end: what the container wrote last is in the file by then.
      const last = ended;
      for (const entry of tail.read()) {
        if (o.query.untilNs !== undefined && parseRfc3339Ns(entry.time) > o.query.untilNs) return;
        if (entryMatches(entry, o.query)) yield encode(entry, o.timestamps, o.tty);
      }
      if (last || o.signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    watcher?.close();
    tail?.close();
    o.signal.removeEventListener("abort", notify);
  }
}
