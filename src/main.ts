#!/usr/bin/env bun
import { cac } from "cac";
import { BUNKER_VERSION } from "./version";

const cli = cac("bunker");
cli.option("-H, --host <addr>", "Daemon socket to connect to (env BUNKER_HOST or DOCKER_HOST; default unix:///run/bunker.sock)");
// The command modules are separate chunks of the binary (build.ts), loaded when imported: the daemon loads its
// own and none of the client commands' code.
if (commandName(process.argv.slice(2)) === "daemon") {
  (await import("./cli/daemon")).registerDaemonCommand(cli);
} else {
  const [daemon, system, images, containers, volumes, build] = await Promise.all([
    import("./cli/daemon"),
    import("./cli/system"),
    import("./cli/images"),
    import("./cli/containers"),
    import("./cli/volumes"),
    import("./cli/build"),
  ]);
  daemon.registerDaemonCommand(cli);
  system.registerSystemCommands(cli);
  images.registerImageCommands(cli);
  containers.registerContainerCommands(cli);
  volumes.registerVolumeCommands(cli);
  build.registerBuildCommand(cli);
}
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

/** The first word that is neither an option nor the value of the global `-H`. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "-H" || arg === "--host") i++;
    else if (!arg.startsWith("-")) return arg;
  }
  return undefined;
}
