import { Client, ConnectError, DaemonError, resolveHost } from "../client/client";

export interface GlobalOptions {
  host?: string;
}

export function clientFor(options: GlobalOptions): Client {
  return new Client(resolveHost(options.host));
}

/** Exit status used when the CLI itself (not the container) fails, as docker does. */
export const EXIT_CLI_ERROR = 1;

/** Run a command body; print daemon errors the way docker does and exit non-zero. */
export async function runCommand(body: () => Promise<number | void>): Promise<never> {
  let code = 0;
  try {
    code = (await body()) ?? 0;
  } catch (err) {
    if (err instanceof DaemonError) process.stderr.write(`Error response from daemon: ${err.message}\n`);
    else if (err instanceof ConnectError) process.stderr.write(`${err.message}\n`);
    else process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    code = err instanceof CommandExit ? err.code : EXIT_CLI_ERROR;
  }
  await new Promise<void>((r) => process.stdout.write("", () => r()));
  process.exit(code);
}

/** Throw to end a command with a given exit status after printing a message. */
export class CommandExit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
