import type { DaemonConfig } from "../daemon/config";
import type { EventBus } from "../engine/events";
import { API_VERSION, MIN_API_VERSION } from "../api/version";
import type { SystemBackend } from "../api/routes/system";
import { BUILD_TIME, BUNKER_VERSION, GIT_COMMIT } from "../version";
import { goArch, hostFacts } from "./host";

/** Figures other services contribute to `docker info` and `docker system df`. */
export interface InfoContributor {
  info(): Promise<Record<string, unknown>> | Record<string, unknown>;
  diskUsage?(types: string[]): Promise<Record<string, unknown>>;
}

export class SystemService implements SystemBackend {
  private contributors: InfoContributor[] = [];

  constructor(
    private readonly config: DaemonConfig,
    readonly events: EventBus,
    private readonly daemonId: string,
  ) {}

  contribute(c: InfoContributor): void {
    this.contributors.push(c);
  }

  version(): Record<string, unknown> {
    const host = hostFacts();
    const engine = {
      Version: BUNKER_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: GIT_COMMIT,
      GoVersion: `bun${Bun.version}`,
      Os: "linux",
      Arch: goArch(),
      KernelVersion: host.kernelVersion,
      BuildTime: BUILD_TIME,
    };
    return {
      Platform: { Name: "Bunker Engine" },
      Components: [{ Name: "Engine", Version: BUNKER_VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: GIT_COMMIT, GoVersion: engine.GoVersion, Os: "linux", Arch: engine.Arch, KernelVersion: host.kernelVersion, BuildTime: BUILD_TIME, Experimental: "false" } }],
      ...engine,
    };
  }

  async info(): Promise<Record<string, unknown>> {
    const host = hostFacts();
    const base: Record<string, unknown> = {
      ID: this.daemonId,
      Name: host.hostname,
      Containers: 0,
      ContainersRunning: 0,
      ContainersPaused: 0,
      ContainersStopped: 0,
      Images: 0,
      Driver: this.config.storageDriver,
      DriverStatus: [],
      Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: null, Log: ["json-file"] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      Debug: this.config.logLevel === "debug",
      NFd: 0,
      OomKillDisable: false,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: "json-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: "1",
      NEventsListener: 0,
      KernelVersion: host.kernelVersion,
      OperatingSystem: host.operatingSystem,
      OSVersion: host.osVersion,
      OSType: "linux",
      Architecture: host.architecture,
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        InsecureRegistryCIDRs: ["127.0.0.0/8", "::1/128"],
        IndexConfigs: {},
        Mirrors: this.config.registryMirrors,
      },
      NCPU: host.ncpu,
      MemTotal: host.memTotal,
      DockerRootDir: this.config.dataRoot,
      HttpProxy: process.env.HTTP_PROXY ?? "",
      HttpsProxy: process.env.HTTPS_PROXY ?? "",
      NoProxy: process.env.NO_PROXY ?? "",
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: BUNKER_VERSION,
      Runtimes: { bunker: { path: "bunker-launcher" } },
      DefaultRuntime: "bunker",
      Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
      LiveRestoreEnabled: this.config.liveRestore,
      Isolation: "",
      InitBinary: "",
      ContainerdCommit: { ID: "" },
      RuncCommit: { ID: "" },
      InitCommit: { ID: "" },
      SecurityOptions: ["name=seccomp,profile=builtin"],
      Warnings: [],
    };
    for (const c of this.contributors) Object.assign(base, await c.info());
    return base;
  }

  async diskUsage(types: string[]): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] };
    for (const c of this.contributors) if (c.diskUsage) Object.assign(out, await c.diskUsage(types));
    return out;
  }
}
