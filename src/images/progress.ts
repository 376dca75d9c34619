import type { JobOutput } from "../engine/jobs";
import { humanSize } from "../util/units";
import type { JsonMessage } from "../util/jsonmessage";

export type { JsonMessage };

/** The 50-column bar docker draws: `[=====>      ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  const width = 50;
  let bar = "";
  if (total > 0) {
    const filled = Math.min(width, Math.floor((current / total) * width));
    bar = `[${"=".repeat(filled)}${filled < width ? ">" : ">"}${" ".repeat(Math.max(0, width - filled - 1))}] `;
  }
  const numbers = total > 0 ? `${humanSize(current)}/${humanSize(total)}` : humanSize(current);
  return `${bar}${numbers.padStart(total > 0 ? 17 : 8)}`;
}

/** Writes JSON messages as lines; throttles progress updates per id so a fast pull does not flood the client. */
export class ProgressWriter {
  private lastProgress = new Map<string, number>();

  constructor(private readonly out: JobOutput) {}

  message(m: JsonMessage): Promise<void> {
    return this.out.write(JSON.stringify(m) + "\n");
  }

  status(status: string, id?: string): Promise<void> {
    return this.message(id === undefined ? { status } : { status, progressDetail: {}, id });
  }

  progress(status: string, id: string, current: number, total: number, force = false): Promise<void> {
    const now = performance.now();
    const key = `${status}:${id}`;
    if (!force && current < total && now - (this.lastProgress.get(key) ?? 0) < 100) return Promise.resolve();
    this.lastProgress.set(key, now);
    return this.message({ status, progressDetail: { current, total }, progress: progressBar(current, total), id });
  }

  error(message: string): Promise<void> {
    return this.message({ errorDetail: { message }, error: message });
  }
}

/** docker shows layers by the first 12 hex digits of their digest. */
export function shortId(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}
