/** `logs [-f] [-t] [-n N] [--since] [--until] CONTAINER` */
import type { Client } from "../../client/client";
import { bool, str, type FlagSpec, type FlagValues } from "./argv";
import { demultiplex, writerFor } from "./demux";

export const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: "follow", short: "f", kind: "bool" },
  { name: "timestamps", short: "t", kind: "bool" },
  { name: "tail", short: "n", kind: "string" },
  { name: "since", kind: "string" },
  { name: "until", kind: "string" },
  { name: "details", kind: "bool" },
];

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/** docker's since/until: a Go duration ("10m", "1h30m") is relative to now; Unix times and RFC 3339 pass through. */
export function timestampArg(value: string | undefined, nowMs = Date.now()): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    let seconds = 0;
    for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) seconds += Number(n) * UNIT_SECONDS[unit!]!;
    return ((nowMs / 1000 - seconds)).toFixed(9);
  }
  return value;
}

export async function logsCommand(client: Client, flags: FlagValues, container: string): Promise<number> {
  const info = await client.json<{ Id: string; Config: { Tty: boolean } }>("GET", `/containers/${container}/json`);
  const res = await client.request("GET", `/containers/${info.Id}/logs`, {
    query: {
      stdout: 1,
      stderr: 1,
      follow: bool(flags.follow) || undefined,
      timestamps: bool(flags.timestamps) || undefined,
      tail: str(flags.tail) ?? "all",
      since: timestampArg(str(flags.since)),
      until: timestampArg(str(flags.until)),
      details: bool(flags.details) || undefined,
    },
  });
  if (!res.body) return 0;
  const out = writerFor(process.stdout);
  if (info.Config.Tty) {
    for await (const chunk of res.body) await out(chunk);
  } else {
    await demultiplex(res.body, out, writerFor(process.stderr));
  }
  return 0;
}
