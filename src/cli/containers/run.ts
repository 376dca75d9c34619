/**
 * `run`, `create` and `start -a`: docker's order — create (pull on "No such image" and retry), attach before
 * start, wait registered before start, start, then serve the stream; the exit code is the container's.
 */
import { DaemonError, type Client } from "../../client/client";
import { CommandExit } from "../context";
import { registryAuthHeader, serverOfReference } from "../credentials";
import { renderProgress, type WireMessage } from "../progress";
import { bool, str, type FlagValues } from "./argv";
import { consoleSize, followTerminalSize, serveStream } from "./attach-io";
import { createBody } from "./create-flags";
import { hijack, type HijackedStream } from "./hijack";

/** docker's exit codes when the run itself fails: 125 for the daemon, 126/127 when the command cannot run. */
export function statusOfStartError(err: unknown): number {
  const message = err instanceof Error ? err.message : String(err);
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(message)) return 127;
  if (/permission denied|is a directory/.test(message)) return 126;
  return 125;
}

/** Print a failed run the way docker does and give its exit status. */
function failRun(err: unknown, code = 125, command = "run"): number {
  const message = err instanceof DaemonError ? `Error response from daemon: ${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`bunker: ${message}\n\nRun 'bunker ${command} --help' for more information\n`);
  return code;
}

/** `busybox` → busybox + latest, `x@sha256:…` → x + the digest, as docker sends pulls. */
function pullQuery(image: string): { fromImage: string; tag: string } {
  const at = image.indexOf("@");
  if (at >= 0) return { fromImage: image.slice(0, at), tag: image.slice(at + 1) };
  const colon = image.lastIndexOf(":");
  if (colon > image.lastIndexOf("/")) return { fromImage: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { fromImage: image, tag: "latest" };
}

async function pullForRun(client: Client, image: string, quiet: boolean): Promise<void> {
  const q = pullQuery(image);
  process.stderr.write(`Unable to find image '${q.tag.startsWith("sha256:") ? `${q.fromImage}@${q.tag}` : `${q.fromImage}:${q.tag}`}' locally\n`);
  const res = await client.request("POST", "/images/create", { query: q, headers: { "X-Registry-Auth": registryAuthHeader(serverOfReference(image)) } });
  await renderProgress(client.jsonLines<WireMessage>(res), quiet ? { write: () => true } : process.stderr, !quiet && process.stderr.isTTY === true);
}

async function createContainer(client: Client, flags: FlagValues, image: string, cmd: string[], detached: boolean): Promise<{ id: string; attachStdin: boolean; tty: boolean }> {
  const spec = createBody(flags, image, cmd, detached, consoleSize());
  const send = () => client.json<{ Id: string; Warnings: string[] | null }>("POST", "/containers/create", { query: { name: spec.name }, body: spec.body });
  let created;
  try {
    created = await send();
  } catch (err) {
    if (!(err instanceof DaemonError && err.status === 404 && err.message.startsWith("No such image")) || str(flags.pull) === "never") throw err;
    await pullForRun(client, image, bool(flags.quiet));
    created = await send();
  }
  for (const w of created.Warnings ?? []) process.stderr.write(`WARNING: ${w}\n`);
  return { id: created.Id, attachStdin: spec.attachStdin, tty: spec.tty };
}

export async function createCommand(client: Client, flags: FlagValues, rest: string[]): Promise<number> {
  const [image, ...cmd] = rest;
  if (!image) return failRun(new Error('"create" requires at least 1 argument.'), 125, "create");
  try {
    const { id } = await createContainer(client, flags, image, cmd, true);
    console.log(id);
    return 0;
  } catch (err) {
    return failRun(err, 125, "create");
  }
}

interface Attached {
  stream: HijackedStream;
  served: Promise<void>;
}

async function attachTo(client: Client, id: string, stdin: boolean, tty: boolean, detachKeys: string | undefined): Promise<Attached> {
  const stream = await hijack(client, `/containers/${id}/attach`, { stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys });
  return { stream, served: serveStream(stream, { tty, stdin }) };
}

/** The wait request is sent (and its headers received) before start, so no exit can be missed. */
async function waitFor(client: Client, id: string, condition: string): Promise<{ status: Promise<number> }> {
  const res = await client.request("POST", `/containers/${id}/wait`, { query: { condition } });
  const status = (res.json() as Promise<{ StatusCode: number; Error?: { Message: string } | null }>).then((body) => {
    if (body.Error?.Message) process.stderr.write(`${body.Error.Message}\n`);
    return body.StatusCode;
  });
  // Resolved before start; the status itself arrives at exit (a promise inside an object is not flattened).
  return { status };
}

export async function runCommand(client: Client, flags: FlagValues, rest: string[]): Promise<number> {
  const [image, ...cmd] = rest;
  if (!image) return failRun(new Error('"run" requires at least 1 argument.'));
  const detached = bool(flags.detach);
  let created;
  try {
    created = await createContainer(client, flags, image, cmd, detached);
  } catch (err) {
    return failRun(err);
  }
  const { id, attachStdin, tty } = created;
  const autoRemove = bool(flags.rm);
  if (detached) {
    try {
      await client.request("POST", `/containers/${id}/start`);
    } catch (err) {
      return failRun(err, statusOfStartError(err));
    }
    console.log(id);
    return 0;
  }
  let attached: Attached;
  let exit: { status: Promise<number> };
  try {
    attached = await attachTo(client, id, attachStdin, tty, str(flags["detach-keys"]));
    exit = await waitFor(client, id, autoRemove ? "removed" : "next-exit");
    await client.request("POST", `/containers/${id}/start`);
  } catch (err) {
    return failRun(err, statusOfStartError(err));
  }
  if (tty) followTerminalSize(client, `/containers/${id}/resize`, attached.served);
  await attached.served;
  return await exit.status;
}

/** `start [-a] [-i] CONTAINER...` */
export async function startCommand(client: Client, flags: FlagValues, containers: string[]): Promise<number> {
  if (containers.length === 0) throw new CommandExit(1, '"start" requires at least 1 argument.');
  if ((bool(flags.attach) || bool(flags.interactive)) && containers.length > 1) throw new CommandExit(1, "you cannot start and attach multiple containers at once");
  const attach = bool(flags.attach) || bool(flags.interactive);
  if (attach) {
    const ref = containers[0]!;
    const info = await client.json<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean } }>("GET", `/containers/${ref}/json`);
    const stdin = bool(flags.interactive) && info.Config.OpenStdin;
    const attached = await attachTo(client, info.Id, stdin, info.Config.Tty, str(flags["detach-keys"]));
    const exit = await waitFor(client, info.Id, "next-exit");
    await client.request("POST", `/containers/${info.Id}/start`);
    if (info.Config.Tty) followTerminalSize(client, `/containers/${info.Id}/resize`, attached.served);
    await attached.served;
    return await exit.status;
  }
  let failed = false;
  for (const ref of containers) {
    try {
      await client.request("POST", `/containers/${ref}/start`);
      console.log(ref);
    } catch (err) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}
