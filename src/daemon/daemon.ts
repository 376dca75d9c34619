import type { Database } from "bun:sqlite";
import { mkdirSync, rmSync, existsSync, unlinkSync } from "node:fs";
import { prctl, PR_SET_CHILD_SUBREAPER } from "../../drivers/libc/libc";
import { createApp, type ApiHono } from "../api/app";
import { HttpServer, parseListenAddress, type TlsFiles } from "../api/http/server";
import { systemRoutes } from "../api/routes/system";
import { debugRoutes } from "../api/routes/debug";
import { fastPing } from "../api/fast-ping";
import { Engine } from "../engine/engine";
import { openStore } from "../store/db";
import { MetaRepository } from "../store/meta";
import { SystemService } from "../system/service";
import type { ImageService } from "../images/service";
import type { NetworkService } from "../networks/service";
import type { VolumeService } from "../volumes/service";
import type { ContainerService } from "../containers/service";
import type { ContainerKeepers } from "../containers/keepers";
import { log, setLogLevel } from "../util/log";
import type { DaemonConfig } from "./config";
import { DataRoot } from "./layout";
import { IdleCollector } from "./idle-collector";
import { DataRootLock, writePidfile } from "./lock";

/** Paths whose request bodies stream (build contexts, image tarballs, archives): exempt from the body cap. */
const STREAMING_UPLOADS = [/^\/_bunker\/upload$/, /^(\/v[\d.]+)?\/build$/, /^(\/v[\d.]+)?\/images\/load$/, /^(\/v[\d.]+)?\/images\/create$/, /^(\/v[\d.]+)?\/containers\/[^/]+\/archive$/];

/** Quiet time after a request or an event before the garbage it left is collected. */
const COLLECT_WHEN_QUIET_MS = 500;

/** Services register here what they add to the API and what they must do at shutdown. */
export interface DaemonContext {
  config: DaemonConfig;
  dataRoot: DataRoot;
  db: Database;
  engine: Engine;
  system: SystemService;
  routers: ApiHono[];
  /** Set by the image service installer. */
  images: ImageService;
  /** Set by the network service installer. */
  networks: NetworkService;
  /** Set by the volume service installer. */
  volumes: VolumeService;
  /** Set by the container service installer. */
  containers: ContainerService;
  /** Set by the keeper installer, the first one: the supervisors that hold the containers' processes. */
  keepers: ContainerKeepers;
  /** Set by the container service: whether a GraphDriver snapshot key belongs to a container. */
  isContainerSnapshot(key: string): boolean;
  onShutdown(fn: () => Promise<void> | void): void;
  /** Runs after every service is installed, before the API listens (reconciliation across services). */
  onReady(fn: () => Promise<void> | void): void;
}

export type ServiceInstaller = (ctx: DaemonContext) => Promise<void> | void;

export class Daemon {
  private shutdownHooks: Array<() => Promise<void> | void> = [];
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly config: DaemonConfig,
    /** The services, for code that drives them in-process (the library) instead of over the API. */
    readonly context: DaemonContext,
    private readonly lock: DataRootLock,
    private readonly server: HttpServer,
    private readonly idle: IdleCollector,
  ) {}

  get engine(): Engine {
    return this.context.engine;
  }

  /** With no `config.hosts` nothing listens: the services are only reachable through `context`. */
  static async start(config: DaemonConfig, installers: ServiceInstaller[]): Promise<Daemon> {
    setLogLevel(config.logLevel);
    const dataRoot = new DataRoot(config.dataRoot);
    mkdirSync(dataRoot.root, { recursive: true, mode: 0o710 });
    const lock = DataRootLock.acquire(dataRoot.lockFile, dataRoot.root);
    try {
      // PID 1 on these hosts does not reap orphans: every process we start must end up reaped by us.
      prctl(PR_SET_CHILD_SUBREAPER, 1);
      rmSync(dataRoot.tmp, { recursive: true, force: true });
      mkdirSync(dataRoot.tmp, { recursive: true });
      const db = openStore(dataRoot.database);
      const meta = new MetaRepository(db);
      const engine = new Engine();
      const system = new SystemService(config, engine.events, meta.daemonId());
      const routers: ApiHono[] = [systemRoutes(system)];
      if (process.env.BUNKER_TEST_ROUTES === "1") routers.push(debugRoutes());
      const hooks: Array<() => Promise<void> | void> = [];
      const ready: Array<() => Promise<void> | void> = [];
      const ctx: DaemonContext = {
        config,
        dataRoot,
        db,
        engine,
        system,
        routers,
        images: undefined as unknown as ImageService,
        networks: undefined as unknown as NetworkService,
        volumes: undefined as unknown as VolumeService,
        containers: undefined as unknown as ContainerService,
        keepers: undefined as unknown as ContainerKeepers,
        isContainerSnapshot: () => false,
        onShutdown: (fn) => hooks.push(fn),
        onReady: (fn) => ready.push(fn),
      };
      for (const install of installers) await install(ctx);
      for (const fn of ready) await fn();

      // Every request and every event counts as activity; the daemon's own "start" event has start-up's garbage collected.
      const idle = new IdleCollector(COLLECT_WHEN_QUIET_MS);
      engine.events.subscribe(() => idle.activity());
      const app = createApp(routers);
      const server = new HttpServer({
        handler: (request, env) => {
          idle.activity();
          return app(request, env);
        },
        isStreamingUpload: (method, path) => method !== "GET" && STREAMING_UPLOADS.some((re) => re.test(path)),
        fastResponse: fastPing,
        onError: (err) => log.debug("connection error", { error: err instanceof Error ? err.message : String(err) }),
      });
      const tls: TlsFiles | undefined = config.tlsVerify || config.tls ? { ca: config.tlsCaCert, cert: config.tlsCert, key: config.tlsKey, verifyClients: config.tlsVerify } : undefined;
      for (const host of config.hosts) server.listen(parseListenAddress(host, tls));
      if (config.pidfile) writePidfile(config.pidfile);
      const daemon = new Daemon(config, ctx, lock, server, idle);
      daemon.shutdownHooks = hooks;
      engine.events.publish("daemon", "start", meta.daemonId(), { name: "bunker" });
      log.info("daemon started", { hosts: config.hosts.join(","), dataRoot: config.dataRoot, driver: config.storageDriver, pid: process.pid });
      return daemon;
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  /** TCP ports actually bound (useful with tcp://127.0.0.1:0). */
  ports(): number[] {
    return this.server.ports();
  }

  /** Stop accepting, cancel jobs, run service shutdown hooks, close the store. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      log.info("daemon shutting down");
      this.server.stop(false);
      this.idle.stop();
      await this.engine.shutdown(10_000);
      for (const hook of this.shutdownHooks.reverse()) {
        try {
          await hook();
        } catch (err) {
          log.error("shutdown step failed", { error: err instanceof Error ? err.message : String(err) });
        }
      }
      this.server.stop(true);
      this.context.db.close();
      if (this.config.pidfile && existsSync(this.config.pidfile)) unlinkSync(this.config.pidfile);
      this.lock.release();
      log.info("daemon stopped");
    })();
    return this.stopping;
  }
}
