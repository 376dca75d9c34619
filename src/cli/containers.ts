/**
 * The container commands of our CLI (run, create, start, stop, kill, restart, rm, ps, logs, attach, exec,
 * inspect, wait, rename, top, pause, unpause, stats). Their flags are parsed docker's way (src/cli/containers/
 * argv.ts): cac only matches the command name, so that `run busybox sh -c 'exit 3'` reaches the container intact.
 */
import type { CAC } from "cac";
import type { Client } from "../client/client";
import { EPHEMERAL_RUN_FLAGS, withEphemeral } from "./run-ephemeral";
import { clientFor, runCommand, type GlobalOptions } from "./context";
import { argsAfterCommand, FlagError, parseFlags, type FlagSpec, type FlagValues } from "./containers/argv";
import { CREATE_FLAGS, RUN_ONLY_FLAGS, UsageError } from "./containers/create-flags";
import { EXEC_FLAGS, execCommand } from "./containers/exec";
import { LOGS_FLAGS, logsCommand } from "./containers/logs";
import {
  ATTACH_FLAGS, attachCommand, INSPECT_FLAGS, inspectCommand, KILL_FLAGS, killCommand, renameCommand, RM_FLAGS, rmCommand,
  simpleCommand, STOP_FLAGS, stopCommand, topCommand, waitCommand,
} from "./containers/manage";
import { PS_FLAGS, psCommand } from "./containers/ps";
import { createCommand, runCommand as runContainer, startCommand } from "./containers/run";
import { STATS_FLAGS, statsCommand } from "./containers/stats";
import { CP_FLAGS, cpCommand } from "./containers/cp";
import { COMMIT_FLAGS, commitCommand, diffCommand, EXPORT_FLAGS, exportCommand } from "./containers/files";

interface CommandDef {
  name: string;
  description: string;
  flags: readonly FlagSpec[];
  /** Flags end at the first positional argument (the rest is the container's command line). */
  stopAtPositional: boolean;
  /** Exit status for a usage error (docker uses 125 for run/create/exec). */
  usageExit: number;
  run(client: Client, flags: FlagValues, args: string[]): Promise<number>;
}

const START_FLAGS: readonly FlagSpec[] = [
  { name: "attach", short: "a", kind: "bool" },
  { name: "interactive", short: "i", kind: "bool" },
  { name: "detach-keys", kind: "string" },
];

const COMMANDS: CommandDef[] = [
  { name: "run", description: "Create and run a new container from an image", flags: [...CREATE_FLAGS, ...RUN_ONLY_FLAGS, ...EPHEMERAL_RUN_FLAGS], stopAtPositional: true, usageExit: 125, run: withEphemeral(runContainer) },
  { name: "create", description: "Create a new container", flags: CREATE_FLAGS, stopAtPositional: true, usageExit: 125, run: createCommand },
  { name: "exec", description: "Execute a command in a running container", flags: EXEC_FLAGS, stopAtPositional: true, usageExit: 125, run: execCommand },
  { name: "start", description: "Start one or more stopped containers", flags: START_FLAGS, stopAtPositional: false, usageExit: 1, run: startCommand },
  { name: "stop", description: "Stop one or more running containers", flags: STOP_FLAGS, stopAtPositional: false, usageExit: 1, run: (c, f, a) => stopCommand(c, f, a, "stop") },
  { name: "restart", description: "Restart one or more containers", flags: STOP_FLAGS, stopAtPositional: false, usageExit: 1, run: (c, f, a) => stopCommand(c, f, a, "restart") },
  { name: "kill", description: "Kill one or more running containers", flags: KILL_FLAGS, stopAtPositional: false, usageExit: 1, run: killCommand },
  { name: "rm", description: "Remove one or more containers", flags: RM_FLAGS, stopAtPositional: false, usageExit: 1, run: rmCommand },
  { name: "pause", description: "Pause all processes within one or more containers", flags: [], stopAtPositional: false, usageExit: 1, run: (c, _f, a) => simpleCommand(c, a, "pause") },
  { name: "unpause", description: "Unpause all processes within one or more containers", flags: [], stopAtPositional: false, usageExit: 1, run: (c, _f, a) => simpleCommand(c, a, "unpause") },
  { name: "wait", description: "Block until containers stop, then print their exit codes", flags: [], stopAtPositional: false, usageExit: 1, run: (c, _f, a) => waitCommand(c, a) },
  { name: "rename", description: "Rename a container", flags: [], stopAtPositional: false, usageExit: 1, run: (c, _f, a) => renameCommand(c, a) },
  { name: "top", description: "Display the running processes of a container", flags: [], stopAtPositional: true, usageExit: 1, run: (c, _f, a) => topCommand(c, a) },
  { name: "ps", description: "List containers", flags: PS_FLAGS, stopAtPositional: false, usageExit: 1, run: (c, f) => psCommand(c, f) },
  { name: "logs", description: "Fetch the logs of a container", flags: LOGS_FLAGS, stopAtPositional: false, usageExit: 1, run: (c, f, a) => oneContainer("logs", a, (ref) => logsCommand(c, f, ref)) },
  { name: "attach", description: "Attach to a running container's input and output", flags: ATTACH_FLAGS, stopAtPositional: false, usageExit: 1, run: (c, f, a) => oneContainer("attach", a, (ref) => attachCommand(c, f, ref)) },
  { name: "inspect", description: "Return low-level information on containers and images", flags: INSPECT_FLAGS, stopAtPositional: false, usageExit: 1, run: inspectCommand },
  { name: "stats", description: "Display resource usage of containers", flags: STATS_FLAGS, stopAtPositional: false, usageExit: 1, run: statsCommand },
  { name: "cp", description: "Copy files/folders between a container and the local filesystem", flags: CP_FLAGS, stopAtPositional: false, usageExit: 1, run: cpCommand },
  { name: "diff", description: "Inspect changes to files or directories on a container's filesystem", flags: [], stopAtPositional: false, usageExit: 1, run: (c, _f, a) => diffCommand(c, a) },
  { name: "commit", description: "Create a new image from a container's changes", flags: COMMIT_FLAGS, stopAtPositional: false, usageExit: 1, run: commitCommand },
  { name: "export", description: "Export a container's filesystem as a tar archive", flags: EXPORT_FLAGS, stopAtPositional: false, usageExit: 1, run: exportCommand },
];

function oneContainer(command: string, args: string[], fn: (ref: string) => Promise<number>): Promise<number> {
  if (args.length !== 1) {
    process.stderr.write(`"${command}" requires exactly 1 argument.\n`);
    return Promise.resolve(1);
  }
  return fn(args[0]!);
}

export function registerContainerCommands(cli: CAC): void {
  for (const def of COMMANDS) {
    cli
      .command(`${def.name} [...args]`, def.description)
      .allowUnknownOptions()
      .action((_args: string[], opts: GlobalOptions) =>
        runCommand(async () => {
          let parsed;
          try {
            parsed = parseFlags(argsAfterCommand(process.argv, def.name), def.flags, def.stopAtPositional);
          } catch (err) {
            if (!(err instanceof FlagError)) throw err;
            process.stderr.write(`${err.message}\nSee 'bunker ${def.name} --help'.\n`);
            return def.usageExit;
          }
          try {
            return await def.run(clientFor(opts), parsed.flags, parsed.rest);
          } catch (err) {
            if (!(err instanceof UsageError)) throw err;
            process.stderr.write(`invalid argument: ${err.message}\nSee 'bunker ${def.name} --help'.\n`);
            return def.usageExit;
          }
        }),
      );
  }
}
