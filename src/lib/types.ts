/**
 * The library's public types: what `createEngine` takes and what the engine's methods take and return. They
 * are plain data, independent of the API's wire shapes, except `ContainerCreateRequest` (docker's own create
 * body, for callers who need a setting the friendly options do not cover).
 */
import type { CreateRequest } from "../containers/create-config";
import type { RegistryCredentials } from "../registry/auth";

export type { RegistryCredentials };

/** docker's `POST /containers/create` body (Config at the top level, HostConfig, NetworkingConfig). */
export type ContainerCreateRequest = CreateRequest;

export interface EngineOptions {
  /**
   * Where images, containers and volumes live. One engine per data root: a daemon or another engine holding
   * it makes `createEngine` fail. Default `/var/lib/bunker`, or a new temporary directory when `ephemeral`.
   */
  dataRoot?: string;
  /**
   * A throw-away engine: a temporary data root, a default bridge with its own name and subnet, and on close
   * (or SIGINT/SIGTERM) every container, mount, cgroup, network link, firewall rule and file it made removed.
   */
  ephemeral?: boolean;
  /** On close, remove the containers, networks and volumes this engine created (always on when ephemeral). */
  cleanup?: boolean;
  /**
   * Like the daemon's `--live-restore` (default true): containers still running at close stay running in their
   * keeper process for the next engine or daemon on this data root. False: close stops them and ends the
   * keeper. Ephemeral engines always end everything.
   */
  liveRestore?: boolean;
  /** overlay (default), vfs or btrfs. */
  storageDriver?: string;
  /** Pull-through mirrors for Docker Hub (`http://127.0.0.1:5001`), tried in order before docker.io. */
  registryMirrors?: string[];
  /** Registries spoken to over plain HTTP (`host:port`); loopback ones always are. */
  insecureRegistries?: string[];
  /** Name of the default bridge (`none`: no default bridge). Ephemeral engines get a unique one by default. */
  bridge?: string;
  /** Address and prefix of the default bridge (`10.250.0.1/24`). */
  bip?: string;
  /** debug, info, warn (default), error: the engine logs to stderr. */
  logLevel?: string;
  /**
   * Ephemeral engines tear down on SIGINT/SIGTERM and then end the process (exit status 128 + signal).
   * Default true for ephemeral engines; false leaves signals to the caller (who must then close the engine).
   */
  handleSignals?: boolean;
}

export type PullPolicy = "missing" | "always" | "never";

export interface PullOptions {
  /** `os/arch[/variant]`; default: this host's. */
  platform?: string;
  credentials?: RegistryCredentials;
  /** Progress as the daemon reports it to `docker pull` (one call per message). */
  onProgress?: (event: PullProgress) => void;
  signal?: AbortSignal;
}

export interface PullProgress {
  status: string;
  /** The layer (short digest) the message is about, if any. */
  id?: string;
  current?: number;
  total?: number;
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** Bytes, uncompressed. */
  size: number;
  created: string;
}

export interface PulledImage extends ImageInfo {
  /** The manifest (or index) digest the reference resolved to. */
  digest: string;
}

export interface MountOption {
  type: "bind" | "volume" | "tmpfs";
  /** Host path (bind) or volume name (volume; omitted: an anonymous volume). */
  source?: string;
  target: string;
  readOnly?: boolean;
}

export interface PortOption {
  containerPort: number;
  protocol?: "tcp" | "udp";
  /** Omitted or 0: a free port chosen by the engine. */
  hostPort?: number;
  /** Default: every address. */
  hostIp?: string;
}

/** What a container is made from; the friendly fields win over the same settings in `request`. */
export interface ContainerOptions {
  image: string;
  cmd?: string[];
  entrypoint?: string[];
  env?: Record<string, string>;
  workdir?: string;
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  user?: string;
  /** A network name or id, `bridge` (the default), `host`, `none` or `container:<id>`. */
  network?: string;
  name?: string;
  labels?: Record<string, string>;
  tty?: boolean;
  /** Keep stdin open (for `run` with `stdin`, or a later attach). */
  openStdin?: boolean;
  mounts?: MountOption[];
  ports?: PortOption[];
  /** Remove the container once it exits (docker's `--rm`). */
  autoRemove?: boolean;
  /** Pull the image first: when missing (default), always, or never. */
  pull?: PullPolicy;
  /** Any other create setting, in docker's API shape. */
  request?: ContainerCreateRequest;
}

export type ContainerStatus = "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";

export interface PublishedPort {
  containerPort: number;
  protocol: string;
  hostIp: string;
  hostPort: number;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  status: ContainerStatus;
  running: boolean;
  /** Meaningful once the container has exited. */
  exitCode: number;
  /** Host pid of the container's first process while it runs, else 0. */
  pid: number;
  /** The container's address on its first network, if it has one. */
  ipAddress: string;
  ports: PublishedPort[];
}

export interface StopOptions {
  /** Seconds between the stop signal and SIGKILL; default the container's (10). */
  timeout?: number;
  signal?: string;
}

export interface RunOptions extends Omit<ContainerOptions, "image" | "cmd" | "tty" | "openStdin"> {
  /** Fed to the container's stdin, which then reads EOF. */
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  /** Remove the container once its result is in (default false: it stays, for `logs` or inspection). */
  remove?: boolean;
  /** Output as it comes; a stream given a callback is not also collected into the result. */
  onStdout?: (chunk: Uint8Array) => void | Promise<void>;
  onStderr?: (chunk: Uint8Array) => void | Promise<void>;
}

export interface RunResult {
  id: string;
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface LogsOptions {
  /** Keep reading while the container runs (ends when it stops, or when the loop breaks). */
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  /** Only the last N lines. */
  tail?: number;
  signal?: AbortSignal;
}

export interface LogLine {
  stream: "stdout" | "stderr";
  /** One line of output with its newline (a line longer than 16 KiB comes in parts). */
  text: string;
}

export interface ExecOptions {
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
  privileged?: boolean;
  stdin?: string | Uint8Array | ReadableStream<Uint8Array>;
  onStdout?: (chunk: Uint8Array) => void | Promise<void>;
  onStderr?: (chunk: Uint8Array) => void | Promise<void>;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface BuildOptions {
  /** The Dockerfile, relative to the context (or anywhere); default `<context>/Dockerfile`. */
  dockerfile?: string;
  /** Names for the image (`app:ci`). */
  tags?: string[];
  buildArgs?: Record<string, string>;
  target?: string;
  noCache?: boolean;
  /** Pull base images even when present. */
  pull?: boolean;
  labels?: Record<string, string>;
  platform?: string;
  /** Network of RUN steps (default: the default bridge). */
  network?: string;
  /** The build's output (`Step 1/3 : FROM …`, RUN output), as it comes. */
  onOutput?: (text: string) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  imageId: string;
}

export interface NetworkCreateOptions {
  /** `10.99.0.0/24`; default: a free subnet. */
  subnet?: string;
  gateway?: string;
  internal?: boolean;
  labels?: Record<string, string>;
  /** Name of the Linux bridge; default `br-<id>`. */
  bridgeName?: string;
}

export interface NetworkInfo {
  id: string;
  name: string;
  driver: string;
  /** The Linux bridge, for bridge networks. */
  bridge: string | null;
  subnet: string | null;
  gateway: string | null;
  internal: boolean;
  labels: Record<string, string>;
}

export interface VolumeCreateOptions {
  /** Local driver options (`type: "tmpfs"`, `device`, `o`), as `docker volume create -o`. */
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

export interface VolumeInfo {
  name: string;
  driver: string;
  mountpoint: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  createdAt: string;
}
