/** The small container commands: stop, kill, restart, rm, pause, unpause, wait, rename, top, inspect, attach. */
import { DaemonError, type Client } from "../../client/client";
import { renderTemplate } from "../template";
import { bool, str, type FlagSpec, type FlagValues } from "./argv";
import { followTerminalSize, serveStream } from "./attach-io";
import { hijack } from "./hijack";

export const STOP_FLAGS: readonly FlagSpec[] = [
  { name: "time", short: "t", kind: "string" },
  { name: "timeout", kind: "string" },
  { name: "signal", short: "s", kind: "string" },
];
export const KILL_FLAGS: readonly FlagSpec[] = [{ name: "signal", short: "s", kind: "string" }];
export const RM_FLAGS: readonly FlagSpec[] = [
  { name: "force", short: "f", kind: "bool" },
  { name: "volumes", short: "v", kind: "bool" },
  { name: "link", short: "l", kind: "bool" },
];
export const INSPECT_FLAGS: readonly FlagSpec[] = [
  { name: "format", short: "f", kind: "string" },
  { name: "size", short: "s", kind: "bool" },
  { name: "type", kind: "string" },
];
export const ATTACH_FLAGS: readonly FlagSpec[] = [
  { name: "no-stdin", kind: "bool" },
  { name: "sig-proxy", kind: "bool" },
  { name: "detach-keys", kind: "string" },
];

/** Run `op` for each container, print each one that worked, report the others; 1 if any failed. */
async function eachContainer(refs: string[], op: (ref: string) => Promise<string | void>): Promise<number> {
  if (refs.length === 0) {
    process.stderr.write("requires at least 1 argument.\n");
    return 1;
  }
  let failed = false;
  for (const ref of refs) {
    try {
      const shown = await op(ref);
      console.log(shown ?? ref);
    } catch (err) {
      if (!(err instanceof DaemonError)) throw err;
      failed = true;
      process.stderr.write(`Error response from daemon: ${err.message}\n`);
    }
  }
  return failed ? 1 : 0;
}

export function stopCommand(client: Client, flags: FlagValues, refs: string[], action: "stop" | "restart"): Promise<number> {
  const t = str(flags.time) ?? str(flags.timeout);
  return eachContainer(refs, async (ref) => {
    await client.request("POST", `/containers/${ref}/${action}`, { query: { t, signal: str(flags.signal) } });
  });
}

export function killCommand(client: Client, flags: FlagValues, refs: string[]): Promise<number> {
  return eachContainer(refs, async (ref) => {
    await client.request("POST", `/containers/${ref}/kill`, { query: { signal: str(flags.signal) } });
  });
}

export function rmCommand(client: Client, flags: FlagValues, refs: string[]): Promise<number> {
  return eachContainer(refs, async (ref) => {
    await client.request("DELETE", `/containers/${ref}`, { query: { force: bool(flags.force) || undefined, v: bool(flags.volumes) || undefined } });
  });
}

export function simpleCommand(client: Client, refs: string[], action: "pause" | "unpause"): Promise<number> {
  return eachContainer(refs, async (ref) => {
    await client.request("POST", `/containers/${ref}/${action}`);
  });
}

export function waitCommand(client: Client, refs: string[]): Promise<number> {
  return eachContainer(refs, async (ref) => {
    const res = await client.json<{ StatusCode: number }>("POST", `/containers/${ref}/wait`);
    return String(res.StatusCode);
  });
}

export async function renameCommand(client: Client, args: string[]): Promise<number> {
  if (args.length !== 2) {
    process.stderr.write('"rename" requires exactly 2 arguments.\n');
    return 1;
  }
  await client.request("POST", `/containers/${args[0]}/rename`, { query: { name: args[1] } });
  return 0;
}

/** Go's tabwriter as `docker top` sets it up: minimum width 20, padding 3. */
function topTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length + 3, 20)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("") + "\n").join("");
}

export async function topCommand(client: Client, args: string[]): Promise<number> {
  const [ref, ...psArgs] = args;
  if (!ref) {
    process.stderr.write('"top" requires at least 1 argument.\n');
    return 1;
  }
  const top = await client.json<{ Titles: string[]; Processes: string[][] }>("GET", `/containers/${ref}/top`, { query: { ps_args: psArgs.length > 0 ? psArgs.join(" ") : undefined } });
  process.stdout.write(topTable([top.Titles, ...top.Processes]));
  return 0;
}

export async function inspectCommand(client: Client, flags: FlagValues, refs: string[]): Promise<number> {
  const type = str(flags.type);
  const found: unknown[] = [];
  let failed = false;
  for (const ref of refs) {
    const tries = [
      ...(type === undefined || type === "container" ? [`/containers/${ref}/json`] : []),
      ...(type === undefined || type === "image" ? [`/images/${ref}/json`] : []),
    ];
    let object: unknown;
    for (const path of tries) {
      try {
        object = await client.json("GET", path, { query: { size: bool(flags.size) || undefined } });
        break;
      } catch (err) {
        if (!(err instanceof DaemonError && err.status === 404)) throw err;
      }
    }
    if (object === undefined) {
      failed = true;
      process.stderr.write(`Error: No such object: ${ref}\n`);
    } else found.push(object);
  }
  const format = str(flags.format);
  if (format !== undefined) for (const o of found) console.log(renderTemplate(format, o));
  else console.log(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

export async function attachCommand(client: Client, flags: FlagValues, ref: string): Promise<number> {
  const info = await client.json<{ Id: string; State: { Running: boolean; Paused: boolean }; Config: { Tty: boolean; OpenStdin: boolean } }>("GET", `/containers/${ref}/json`);
  if (!info.State.Running) {
    process.stderr.write("You cannot attach to a stopped container, start it first\n");
    return 1;
  }
  if (info.State.Paused) {
    process.stderr.write("You cannot attach to a paused container, unpause it first\n");
    return 1;
  }
  const stdin = info.Config.OpenStdin && !bool(flags["no-stdin"]);
  const stream = await hijack(client, `/containers/${info.Id}/attach`, { stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: str(flags["detach-keys"]) });
  const served = serveStream(stream, { tty: info.Config.Tty, stdin });
  if (info.Config.Tty) followTerminalSize(client, `/containers/${info.Id}/resize`, served);
  await served;
  const after = await client.json<{ State: { Running: boolean; ExitCode: number } }>("GET", `/containers/${info.Id}/json`);
  if (after.State.Running) return 0; // detached
  return after.State.ExitCode;
}
