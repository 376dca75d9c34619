/** `exec [-d] [-i] [-t] [-e] [-w] [-u] [--privileged] CONTAINER COMMAND...` */
import { DaemonError, type Client } from "../../client/client";
import { bool, list, str, type FlagSpec, type FlagValues } from "./argv";
import { consoleSize, followTerminalSize, serveStream } from "./attach-io";
import { hijack } from "./hijack";

export const EXEC_FLAGS: readonly FlagSpec[] = [
  { name: "detach", short: "d", kind: "bool" },
  { name: "interactive", short: "i", kind: "bool" },
  { name: "tty", short: "t", kind: "bool" },
  { name: "env", short: "e", kind: "list" },
  { name: "workdir", short: "w", kind: "string" },
  { name: "user", short: "u", kind: "string" },
  { name: "privileged", kind: "bool" },
  { name: "detach-keys", kind: "string" },
];

export async function execCommand(client: Client, flags: FlagValues, rest: string[]): Promise<number> {
  const [container, ...cmd] = rest;
  if (!container || cmd.length === 0) {
    process.stderr.write('"exec" requires at least 2 arguments.\n');
    return 1;
  }
  const detach = bool(flags.detach);
  const tty = bool(flags.tty);
  const stdin = bool(flags.interactive) && !detach;
  const size = tty ? consoleSize() : null;
  let execId: string;
  try {
    const created = await client.json<{ Id: string }>("POST", `/containers/${container}/exec`, {
      body: {
        User: str(flags.user) ?? "",
        Privileged: bool(flags.privileged),
        Tty: tty,
        AttachStdin: stdin,
        AttachStdout: !detach,
        AttachStderr: !detach,
        Detach: detach,
        DetachKeys: str(flags["detach-keys"]) ?? "",
        Env: list(flags.env),
        WorkingDir: str(flags.workdir) ?? "",
        Cmd: cmd,
        ...(size ? { ConsoleSize: size } : {}),
      },
    });
    execId = created.Id;
    if (detach) {
      await client.request("POST", `/exec/${execId}/start`, { body: { Detach: true, Tty: tty } });
      return 0;
    }
  } catch (err) {
    if (err instanceof DaemonError) {
      process.stderr.write(`Error response from daemon: ${err.message}\n`);
      return err.status === 404 || err.status === 409 ? 1 : 126;
    }
    throw err;
  }
  const stream = await hijack(client, `/exec/${execId}/start`, {}, { Detach: false, Tty: tty, ...(size ? { ConsoleSize: size } : {}) });
  const served = serveStream(stream, { tty, stdin });
  if (tty) followTerminalSize(client, `/exec/${execId}/resize`, served);
  await served;
  const info = await client.json<{ ExitCode: number | null; Running: boolean }>("GET", `/exec/${execId}/json`);
  return info.ExitCode ?? 0;
}
