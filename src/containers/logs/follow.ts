/**
 * `GET /containers/{id}/logs`: the stored entries (since/until/tail, stdout/stderr), then with `follow` the live
 * ones until the container stops or the client goes away — framed per stream unless the container has a TTY.
 */
import { frame } from "../io/stdcopy";
import { parseRfc3339Ns } from "../time";
import type { JsonFileLogger, LogEntry } from "./json-file";
import { entryMatches, selectEntries, snapshotLogs, type LogQuery } from "./reader";

export interface LogStreamOptions {
  path: string;
  maxFiles: number;
  /** The running container's logger, when there is one to follow. */
  live: JsonFileLogger | undefined;
  query: LogQuery;
  follow: boolean;
  timestamps: boolean;
  tty: boolean;
  signal: AbortSignal;
}

function encode(entry: LogEntry, timestamps: boolean, tty: boolean): Uint8Array {
  const payload = Buffer.from(timestamps ? `${entry.time} ${entry.log}` : entry.log);
  return tty ? payload : frame(entry.stream, payload);
}

export async function* logStream(o: LogStreamOptions): AsyncGenerator<Uint8Array> {
  const pending: (LogEntry | null)[] = [];
  let wake: (() => void) | null = null;
  const following = o.follow && o.live !== undefined && !o.live.isClosed;
  // Subscribe and snapshot in the same tick: every entry is then either in the files read or in `pending`.
  const unsubscribe = following
    ? o.live!.subscribe((entry) => {
        pending.push(entry);
        wake?.();
      })
    : () => {};
  const history = snapshotLogs(o.path, o.maxFiles);
  const onAbort = () => wake?.();
  o.signal.addEventListener("abort", onAbort);
  try {
    for (const entry of selectEntries(history(), o.query)) yield encode(entry, o.timestamps, o.tty);
    if (!following) return;
    for (;;) {
      while (pending.length > 0) {
        const entry = pending.shift()!;
        if (entry === null) return;
        if (o.query.untilNs !== undefined && parseRfc3339Ns(entry.time) > o.query.untilNs) return;
        if (entryMatches(entry, o.query)) yield encode(entry, o.timestamps, o.tty);
      }
      if (o.signal.aborted) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
  } finally {
    unsubscribe();
    o.signal.removeEventListener("abort", onAbort);
  }
}
