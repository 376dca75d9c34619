import type { JsonMessage } from "../util/jsonmessage";

/** One line of a pull/push/load/import response, as the daemon sends it. */
export type WireMessage = JsonMessage;

/** An error the daemon reported in the stream after its 200 (the command fails with it). */
export class StreamError extends Error {}

interface Output {
  write(text: string): unknown;
}

/**
 * Renders a JSON-lines progress stream like docker's jsonmessage.DisplayJSONMessagesStream. On a terminal every
 * layer id keeps one line, rewritten in place (cursor up, clear line, write, cursor down); elsewhere each status
 * is a plain line and progress bars are left out. Returns the `aux` payloads; throws StreamError on `error`.
 */
export async function renderProgress(messages: AsyncIterable<WireMessage>, out: Output, tty: boolean): Promise<Record<string, unknown>[]> {
  const aux: Record<string, unknown>[] = [];
  let lines = new Map<string, number>();
  for await (const m of messages) {
    if (m.errorDetail || m.error) throw new StreamError(m.errorDetail?.message ?? m.error ?? "unknown error");
    if (m.aux) {
      aux.push(m.aux);
      continue;
    }
    const hasProgress = m.progressDetail !== undefined;
    const bar = m.progress ?? "";
    const barShown = (m.progressDetail?.current ?? 0) > 0 || (m.progressDetail?.total ?? 0) > 0;
    if (!tty) {
      if (barShown) continue;
      out.write(m.stream ?? `${m.id ? `${m.id}: ` : ""}${m.status ?? ""}\n`);
      continue;
    }
    let up = 0;
    if (m.id && hasProgress) {
      let line = lines.get(m.id);
      if (line === undefined) {
        line = lines.size;
        lines.set(m.id, line);
        out.write("\n");
      }
      up = lines.size - line;
      out.write(`\x1b[${up}A`);
    } else {
      // Anything that is not per-layer progress ends the block of layer lines.
      lines = new Map();
    }
    if (m.stream !== undefined) out.write(m.stream);
    else if (hasProgress) out.write(`\x1b[2K\r${m.id ? `${m.id}: ` : ""}${m.status ?? ""}${barShown ? ` ${bar}` : ""}\r`);
    else out.write(`${m.id ? `${m.id}: ` : ""}${m.status ?? ""}\n`);
    if (up) out.write(`\x1b[${up}B`);
  }
  return aux;
}
