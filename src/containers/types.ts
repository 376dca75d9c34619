import type { PortBindingsMap } from "../../drivers/network/portmap";
import type { EndpointSettingsRequest, NetworkSettings } from "../networks/service";
import type { HealthConfig } from "../registry/types";
import type { ApiMount, MountEntry } from "../volumes/mount-spec";

/**
 * The container as the Docker API describes it (`Config`, `HostConfig`, `State`) and as the store keeps it.
 * Field names are docker's so that what the CLI sends can be stored and returned as is.
 */

/** `Config` of `POST /containers/create` and of inspect. */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Image: string;
  Volumes: Record<string, Record<string, never>> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Healthcheck?: HealthConfig;
}

export interface RestartPolicy {
  Name: "" | "no" | "always" | "unless-stopped" | "on-failure";
  MaximumRetryCount: number;
}

/** `HostConfig.Devices[]` (`--device /dev/x[:/dev/y[:rwm]]`). */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  CgroupPermissions: string;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** `HostConfig.Mounts[]` (`--mount`). */
export type MountRequest = ApiMount;

/** The HostConfig fields this engine acts on; anything else the client sends is kept and echoed back. */
export interface HostConfig {
  Binds: string[] | null;
  NetworkMode: string;
  RestartPolicy: RestartPolicy;
  AutoRemove: boolean;
  LogConfig: { Type: string; Config: Record<string, string> };
  ConsoleSize: [number, number];
  CapAdd: string[] | null;
  CapDrop: string[] | null;
  Dns: string[];
  DnsOptions: string[];
  DnsSearch: string[];
  ExtraHosts: string[] | null;
  /** Legacy `--link name:alias` on the default bridge. */
  Links?: string[] | null;
  GroupAdd: string[] | null;
  Privileged: boolean;
  ReadonlyRootfs: boolean;
  SecurityOpt: string[] | null;
  ShmSize: number;
  Tmpfs?: Record<string, string>;
  Sysctls?: Record<string, string>;
  Init?: boolean | null;
  Devices?: DeviceMapping[] | null;
  Memory: number;
  MemorySwap: number;
  MemoryReservation: number;
  NanoCpus: number;
  CpuShares: number;
  CpuPeriod: number;
  CpuQuota: number;
  CpusetCpus: string;
  CpusetMems: string;
  PidsLimit: number | null;
  BlkioWeight: number;
  Ulimits: Ulimit[] | null;
  Mounts?: MountRequest[];
  VolumesFrom?: string[] | null;
  OomKillDisable: boolean;
  PortBindings?: PortBindingsMap;
  PublishAllPorts?: boolean;
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  UsernsMode?: string;
  [other: string]: unknown;
}

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface ContainerState {
  Status: ContainerStatus;
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  /** Only for a container with a healthcheck. */
  Health?: HealthState;
}

/** `State.Health`: the healthcheck's verdict and its last results. */
export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy";
  FailingStreak: number;
  Log: HealthLogEntry[];
}

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** Docker's zero time, which it reports for "never". */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

export type { NetworkSettings } from "../networks/service";

/** `NetworkingConfig` of create: per-network endpoint settings (aliases, a fixed IPv4 address). */
export interface NetworkingConfig {
  EndpointsConfig?: Record<string, EndpointSettingsRequest>;
}

/** One row of the store: everything docker persists about a container. */
export interface ContainerRecord {
  id: string;
  /** Without the leading slash. */
  name: string;
  created: string;
  /** `sha256:…` of the image. */
  imageId: string;
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
  restartCount: number;
  /** Stopped through the API (stop/kill), which `unless-stopped` and `always` respect at daemon start. */
  manuallyStopped: boolean;
  networkSettings: NetworkSettings;
  networkingConfig: NetworkingConfig;
  /** Every mount, resolved at create: volumes by name (anonymous ones named then), `--volumes-from` copied in. */
  mounts: MountEntry[];
}

export function initialState(): ContainerState {
  return {
    Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0,
    ExitCode: 0, Error: "", StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME,
  };
}

export function emptyNetworkSettings(): NetworkSettings {
  return { Bridge: "", SandboxID: "", SandboxKey: "", Ports: {}, Gateway: "", IPAddress: "", IPPrefixLen: 0, MacAddress: "", Networks: {} };
}

/** The process docker reports as Path/Args: the entrypoint followed by the command. */
export function commandLine(config: ContainerConfig): string[] {
  return [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
}
