import type { CAC } from "cac";
import { CLIENT_MAX_API } from "../client/client";
import { BUNKER_VERSION, GIT_COMMIT, BUILD_TIME } from "../version";
import { clientFor, runCommand, type GlobalOptions } from "./context";
import { diskUsageCommand, systemPruneCommand } from "./disk";

type Json = Record<string, unknown>;

export function registerSystemCommands(cli: CAC): void {
  cli
    .command("system <verb>", "Manage the engine (df, prune)")
    .option("--format <format>", "Output 'json' (df)")
    .option("-a, --all", "Remove all unused images and build cache, not just dangling ones (prune)")
    .option("--volumes", "Prune anonymous volumes (prune)")
    .option("-f, --force", "Do not prompt for confirmation (prune)")
    .option("--filter <filter>", "Provide filter values (prune)")
    .action((verb: string, opts: GlobalOptions & { format?: string; all?: boolean; volumes?: boolean; force?: boolean; filter?: string | string[] }) =>
      runCommand(async () => {
        const client = clientFor(opts);
        if (verb === "df") return diskUsageCommand(client, opts.format);
        if (verb !== "prune") throw new Error(`unknown system command: ${verb}`);
        const filters: Record<string, string[]> = {};
        for (const f of [opts.filter ?? []].flat()) {
          const [k, v = ""] = f.split("=", 2) as [string, string?];
          (filters[k] ??= []).push(v);
        }
        await systemPruneCommand(client, { all: opts.all === true, volumes: opts.volumes === true, force: opts.force === true, filters }, async (question) => {
          process.stdout.write(question);
          for await (const line of console) return ["y", "yes"].includes(line.trim().toLowerCase());
          return false;
        });
      }),
    );

  cli.command("version", "Show the Bunker version information").option("-f, --format <format>", "Output 'json'").action((opts: GlobalOptions & { format?: string }) =>
    runCommand(async () => {
      const client = clientFor(opts);
      const clientInfo = { Version: BUNKER_VERSION, ApiVersion: CLIENT_MAX_API, GitCommit: GIT_COMMIT, BuiltAt: BUILD_TIME, Runtime: `bun ${Bun.version}`, Os: "linux", Arch: process.arch };
      let server: Json | null = null;
      let error: unknown = null;
      try {
        server = await client.json<Json>("GET", "/version");
      } catch (err) {
        error = err;
      }
      if (opts.format === "json") {
        console.log(JSON.stringify({ Client: clientInfo, Server: server }));
      } else {
        console.log(`Client: Bunker\n Version:           ${clientInfo.Version}\n API version:       ${server ? await client.apiVersion() : CLIENT_MAX_API}\n Runtime:           ${clientInfo.Runtime}\n Git commit:        ${GIT_COMMIT}\n OS/Arch:           linux/${process.arch}`);
        if (server) {
          console.log(`\nServer: ${(server.Platform as Json | undefined)?.Name ?? ""}\n Engine:\n  Version:          ${server.Version}\n  API version:      ${server.ApiVersion} (minimum version ${server.MinAPIVersion})\n  Runtime:          ${server.GoVersion}\n  Git commit:       ${server.GitCommit}\n  Built:            ${server.BuildTime}\n  OS/Arch:          ${server.Os}/${server.Arch}\n  Kernel:           ${server.KernelVersion}`);
        }
      }
      if (error) throw error;
    }),
  );

  cli.command("info", "Display system-wide information").option("-f, --format <format>", "Output 'json'").action((opts: GlobalOptions & { format?: string }) =>
    runCommand(async () => {
      const info = await clientFor(opts).json<Json>("GET", "/info");
      if (opts.format === "json") return console.log(JSON.stringify(info));
      const lines = [
        `Server:`,
        ` Containers: ${info.Containers}`,
        `  Running: ${info.ContainersRunning}`,
        `  Paused: ${info.ContainersPaused}`,
        `  Stopped: ${info.ContainersStopped}`,
        ` Images: ${info.Images}`,
        ` Server Version: ${info.ServerVersion}`,
        ` Storage Driver: ${info.Driver}`,
        ` Logging Driver: ${info.LoggingDriver}`,
        ` Cgroup Driver: ${info.CgroupDriver}`,
        ` Cgroup Version: ${info.CgroupVersion}`,
        ` Live Restore Enabled: ${info.LiveRestoreEnabled}`,
        ` Kernel Version: ${info.KernelVersion}`,
        ` Operating System: ${info.OperatingSystem}`,
        ` OSType: ${info.OSType}`,
        ` Architecture: ${info.Architecture}`,
        ` CPUs: ${info.NCPU}`,
        ` Total Memory: ${((info.MemTotal as number) / 1024 ** 3).toFixed(2)}GiB`,
        ` Name: ${info.Name}`,
        ` ID: ${info.ID}`,
        ` Docker Root Dir: ${info.DockerRootDir}`,
      ];
      console.log(lines.join("\n"));
      for (const w of (info.Warnings as string[] | undefined) ?? []) console.error(w);
    }),
  );

  cli
    .command("events", "Get real time events from the server")
    .option("--since <time>", "Show all events created since timestamp")
    .option("--until <time>", "Stream events until this timestamp")
    .option("-f, --filter <filter>", "Filter output based on conditions provided (key=value)")
    .option("--format <format>", "Output 'json'")
    .action((opts: GlobalOptions & { since?: string; until?: string; filter?: string | string[]; format?: string }) =>
      runCommand(async () => {
        const client = clientFor(opts);
        const filters: Record<string, string[]> = {};
        for (const f of [opts.filter ?? []].flat()) {
          const [k, v = ""] = f.split("=", 2) as [string, string?];
          (filters[k] ??= []).push(v);
        }
        const res = await client.request("GET", "/events", {
          query: { since: opts.since, until: opts.until, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
        });
        for await (const e of client.jsonLines<Json & { Actor: { ID: string; Attributes: Record<string, string> } }>(res)) {
          if (opts.format === "json") {
            console.log(JSON.stringify(e));
            continue;
          }
          const time = new Date(Number(e.timeNano) / 1e6).toISOString().replace("Z", "000000Z");
          const attrs = Object.entries(e.Actor.Attributes).map(([k, v]) => `${k}=${v}`).join(", ");
          console.log(`${time} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ""}`);
        }
      }),
    );
}
