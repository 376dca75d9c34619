import type { CAC } from "cac";
import { DEFAULT_CONFIG_FILE, readConfigFile, resolveConfig, type DaemonConfig } from "../daemon/config";
import { Daemon } from "../daemon/daemon";
import { messageOf } from "../errors";
import { SERVICES } from "../daemon/services";
import { applyEphemeral, hostRoutes, removeEphemeralDir } from "../daemon/ephemeral";
import { log } from "../util/log";

interface DaemonFlags {
  host?: string | string[];
  dataRoot?: string;
  storageDriver?: string;
  logLevel?: string;
  pidfile?: string;
  configFile?: string;
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  insecureRegistry?: string | string[];
  registryMirror?: string | string[];
  liveRestore?: boolean | string;
  ephemeral?: boolean;
  bridge?: string;
  bip?: string;
  fixedCidr?: string;
  dns?: string | string[];
}

const list = (v: string | string[] | undefined): string[] | undefined => (v === undefined ? undefined : [v].flat().map(String));

export function registerDaemonCommand(cli: CAC): void {
  cli
    .command("daemon", "Run the Bunker daemon (serves the Docker Engine API)")
    .option("-H, --host <addr>", "Daemon socket(s) to listen on (unix:///path, tcp://127.0.0.1:2375); repeatable")
    .option("--data-root <dir>", "Root directory of persistent state (default /var/lib/bunker)")
    .option("--storage-driver <name>", "Storage driver: overlay, vfs, btrfs (default overlay)")
    .option("-l, --log-level <level>", "debug, info, warn, error, fatal (default info)")
    .option("-p, --pidfile <path>", "Path of the daemon PID file (default /run/bunker.pid)")
    .option("--config-file <path>", `Daemon configuration file (default ${DEFAULT_CONFIG_FILE})`)
    .option("--tls", "Use TLS on TCP listeners")
    .option("--tlsverify", "Use TLS and verify client certificates (mutual TLS)")
    .option("--tlscacert <path>", "Trust certs signed only by this CA")
    .option("--tlscert <path>", "Path to TLS certificate file")
    .option("--tlskey <path>", "Path to TLS key file")
    .option("--insecure-registry <host>", "Registry reachable over plain HTTP; repeatable")
    .option("--registry-mirror <url>", "Preferred registry mirror for docker.io; repeatable")
    .option("--live-restore [bool]", "Keep containers running when the daemon stops (default true)")
    .option("--ephemeral", "Remove everything this daemon created (containers, networks, firewall rules) when it stops")
    .option("-b, --bridge <name>", "Name of the default bridge (default bunker0; none disables it)")
    .option("--bip <cidr>", "Address and prefix of the default bridge (default 172.17.0.1/16)")
    .option("--fixed-cidr <cidr>", "IPv4 subnet for fixed IPs on the default bridge")
    .option("--dns <ip>", "DNS server for containers; repeatable")
    .action(async (flags: DaemonFlags) => {
      let config: DaemonConfig;
      try {
        const file = readConfigFile(flags.configFile ?? DEFAULT_CONFIG_FILE, flags.configFile !== undefined);
        config = resolveConfig(file, {
          hosts: list(flags.host),
          dataRoot: flags.dataRoot,
          storageDriver: flags.storageDriver,
          logLevel: flags.logLevel,
          pidfile: flags.pidfile,
          tls: flags.tls,
          tlsVerify: flags.tlsverify,
          tlsCaCert: flags.tlscacert,
          tlsCert: flags.tlscert,
          tlsKey: flags.tlskey,
          insecureRegistries: list(flags.insecureRegistry),
          registryMirrors: list(flags.registryMirror),
          liveRestore: flags.liveRestore === undefined ? undefined : flags.liveRestore !== "false" && flags.liveRestore !== false,
          bridge: flags.bridge,
          ephemeral: flags.ephemeral,
          bip: flags.bip,
          fixedCidr: flags.fixedCidr,
          dns: list(flags.dns),
        });
      } catch (err) {
        process.stderr.write(`bunker daemon: ${(err as Error).message}\n`);
        process.exit(1);
      }
      const scratch = applyEphemeral(
        config,
        { hosts: flags.host !== undefined, dataRoot: flags.dataRoot !== undefined, pidfile: flags.pidfile !== undefined, bridge: flags.bridge !== undefined, bip: flags.bip !== undefined },
        hostRoutes(),
      );
      const starting = Daemon.start(config, SERVICES);
      // Handled from the start: a daemon told to stop while it comes up still tears down what it set up.
      const stop = (signal: string) => {
        log.info("received signal", { signal });
        void starting
          .then((daemon) => daemon.stop(), () => {})
          .catch((err: unknown) => log.error("daemon shutdown failed", { error: messageOf(err) }))
          .then(() => {
            if (scratch) removeEphemeralDir(scratch);
            process.exit(0);
          });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      try {
        await starting;
        if (config.ephemeral) process.stdout.write(`BUNKER_HOST=${config.hosts[0]}\n`);
      } catch (err) {
        process.stderr.write(`bunker daemon: failed to start: ${messageOf(err)}\n`);
        if (scratch) removeEphemeralDir(scratch);
        process.exit(1);
      }
    });
}
