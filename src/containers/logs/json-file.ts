/**
 * Docker's json-file log driver: one JSON object per line of output (`{"log":"tick 1\n","stream":"stdout",
 * "time":"…Z"}`), a line longer than 16 KiB split into partial entries, files rotated at max-size keeping
 * max-file of them (`x-json.log`, `x-json.log.1`, …). Followers get each entry as it is written.
 */
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { nowNs, rfc3339Nano } from "../time";
import type { Rotation } from "./options";

export type StreamName = "stdout" | "stderr";

export interface LogEntry {
  log: string;
  stream: StreamName;
  time: string;
}

/** Docker's limit for one log message; longer lines become several entries. */
const MAX_LINE = 16 * 1024;

export type LogListener = (entry: LogEntry | null) => void;

/** `x-json.log` then its rotated predecessors, newest first. */
export function logFiles(path: string, maxFiles: number): string[] {
  return [path, ...Array.from({ length: maxFiles - 1 }, (_, i) => `${path}.${i + 1}`)];
}

export class JsonFileLogger {
  private fd: number;
  private size: number;
  private readonly pending: Record<StreamName, string> = { stdout: "", stderr: "" };
  private readonly decoders: Record<StreamName, TextDecoder> = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  private readonly listeners = new Set<LogListener>();
  private closed = false;

  constructor(
    readonly path: string,
    private readonly rotation: Rotation,
  ) {
    this.fd = openSync(path, "a", 0o640);
    this.size = fstatSync(this.fd).size;
  }

  /** Output as read from the container: complete lines become entries now, a trailing partial line waits. */
  write(stream: StreamName, data: Uint8Array): void {
    if (this.closed) return;
    let text = this.pending[stream] + this.decoders[stream].decode(data, { stream: true });
    const entries: LogEntry[] = [];
    const time = rfc3339Nano(nowNs());
    for (;;) {
      const nl = text.indexOf("\n");
      if (nl < 0 || nl >= MAX_LINE) {
        if (text.length < MAX_LINE) break;
        entries.push({ log: text.slice(0, MAX_LINE), stream, time });
        text = text.slice(MAX_LINE);
        continue;
      }
      entries.push({ log: text.slice(0, nl + 1), stream, time });
      text = text.slice(nl + 1);
    }
    this.pending[stream] = text;
    this.append(entries);
  }

  /** End of output: what is left of a line is logged as it is. */
  close(): void {
    if (this.closed) return;
    const time = rfc3339Nano(nowNs());
    const rest: LogEntry[] = [];
    for (const stream of ["stdout", "stderr"] as const) {
      const tail = this.pending[stream] + this.decoders[stream].decode();
      if (tail) rest.push({ log: tail, stream, time });
    }
    this.append(rest);
    this.closed = true;
    closeSync(this.fd);
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Live entries from now on; null once the logger closes (the container stopped). */
  subscribe(listener: LogListener): () => void {
    if (this.closed) {
      listener(null);
      return () => {};
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private append(entries: LogEntry[]): void {
    let batch = "";
    let batchBytes = 0;
    for (const entry of entries) {
      const line = JSON.stringify(entry) + "\n";
      const bytes = Buffer.byteLength(line);
      const used = this.size + batchBytes;
      if (this.rotation.maxSize > 0 && used > 0 && used + bytes > this.rotation.maxSize) {
        this.flush(batch);
        batch = "";
        batchBytes = 0;
        this.rotate();
      }
      batch += line;
      batchBytes += bytes;
    }
    this.flush(batch);
    for (const entry of entries) for (const l of this.listeners) l(entry);
  }

  private flush(batch: string): void {
    if (!batch) return;
    const buf = Buffer.from(batch);
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.size += buf.length;
  }

  private rotate(): void {
    closeSync(this.fd);
    const files = logFiles(this.path, this.rotation.maxFiles);
    if (files.length === 1) rmSync(this.path, { force: true });
    for (let i = files.length - 1; i > 0; i--) {
      try {
        renameSync(files[i - 1]!, files[i]!);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    this.fd = openSync(this.path, "a", 0o640);
    this.size = 0;
  }
}
