#!/usr/bin/env bun
import { cac } from "cac";
import { registerBuildCommand } from "./cli/build";
import { registerContainerCommands } from "./cli/containers";
import { registerDaemonCommand } from "./cli/daemon";
import { registerImageCommands } from "./cli/images";
import { registerSystemCommands } from "./cli/system";
import { registerVolumeCommands } from "./cli/volumes";
import { BUNKER_VERSION } from "./version";

const cli = cac("bunker");
cli.option("-H, --host <addr>", "Daemon socket to connect to (env BUNKER_HOST or DOCKER_HOST; default unix:///run/bunker.sock)");
registerDaemonCommand(cli);
registerSystemCommands(cli);
registerImageCommands(cli);
registerContainerCommands(cli);
registerVolumeCommands(cli);
registerBuildCommand(cli);
cli.help();
cli.version(BUNKER_VERSION, "-v, --version");

// In a --compile binary argv is ["bun", "/$bunfs/root/main", ...args]; under `bun src/main.ts` it is
// ["bun", "/path/src/main.ts", ...args]: both carry two leading entries.
cli.parse(process.argv, { run: false });
if (!cli.matchedCommand) {
  if (cli.args.length > 0) {
    process.stderr.write(`bunker: '${cli.args[0]}' is not a bunker command.\nSee 'bunker --help'\n`);
    process.exit(1);
  }
  if (!cli.options.help && !cli.options.version) cli.outputHelp();
} else {
  void cli.runMatchedCommand();
}
