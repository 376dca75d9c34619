/**
 * Docker's json-file log format, as the keeper writes it (drivers/exec/keeper/native/logs.c): one JSON object
 * per line of output (`{"log":"tick 1\n","stream":"stdout","time":"…Z"}`), a line longer than 16 KiB split
 * into partial entries, files rotated at max-size keeping max-file of them (`x-json.log`, `x-json.log.1`, …).
 */

export type StreamName = "stdout" | "stderr";

export interface LogEntry {
  log: string;
  stream: StreamName;
  time: string;
}

/** `x-json.log` then its rotated predecessors, newest first. */
export function logFiles(path: string, maxFiles: number): string[] {
  return [path, ...Array.from({ length: maxFiles - 1 }, (_, i) => `${path}.${i + 1}`)];
}

/** The entries of complete lines in `text`; a torn line (a writer died mid-write) is skipped, as docker does. */
export function parseEntries(text: string): LogEntry[] {
  const entries: LogEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // skipped
    }
  }
  return entries;
}
