/**
 * The engine in the caller's Bun process: the daemon's own services (Daemon.start with no listener), driven
 * through the same engine jobs the API runs, with typed results instead of HTTP.
 */
import { resolveConfig } from "../daemon/config";
import { Daemon, type DaemonContext } from "../daemon/daemon";
import { applyEphemeral, hostRoutes, removeEphemeralDir } from "../daemon/ephemeral";
import { SERVICES } from "../daemon/services";
import type { Engine } from "../engine/engine";
import type { JobOutput } from "../engine/jobs";
import { NotFoundError, NotImplementedError, NotModifiedError } from "../errors";
import { logStream } from "../containers/logs/follow";
import { rotationOf } from "../containers/logs/options";
import { log } from "../util/log";
import type { JsonMessage } from "../images/progress";
import { formatReference, parseReference } from "../registry/reference";
import { packDirectory } from "../cli/build";
import type { BuildJobArgs } from "../build/service";
import { createRequest } from "./create-request";
import { decodeFrames, rawFrames, type Frame } from "./frames";
import { MemoryConnection } from "./memory-connection";
import { containerInfo, imageInfo, networkInfo, volumeInfo } from "./views";
import { closeOnSignals } from "./signals";
import type {
  BuildOptions, BuildResult, ContainerInfo, ContainerOptions, EngineOptions, ExecOptions, ExecResult, ImageInfo, LogLine, LogsOptions, NetworkCreateOptions,
  NetworkInfo, PulledImage, PullOptions, PullPolicy, RunOptions, RunResult, StopOptions, VolumeCreateOptions, VolumeInfo,
} from "./types";

/** docker exec's statuses for a command that could not be started. */
const EXEC_NOT_FOUND = 127;
const EXEC_CANNOT_RUN = 126;

export interface NetworkApi {
  create(name: string, options?: NetworkCreateOptions): Promise<NetworkInfo>;
  remove(nameOrId: string): Promise<void>;
  list(): NetworkInfo[];
}

export interface VolumeApi {
  /** Without a name: a volume with a generated one. */
  create(name?: string, options?: VolumeCreateOptions): Promise<VolumeInfo>;
  remove(name: string, options?: { force?: boolean }): Promise<void>;
  list(): VolumeInfo[];
}

/** An engine with its own data root; see createEngine. */
export class BunkerEngine implements AsyncDisposable {
  readonly networks: NetworkApi;
  readonly volumes: VolumeApi;
  /** What this engine created, for `cleanup`. */
  private readonly created = { containers: new Set<string>(), networks: new Set<string>(), volumes: new Set<string>() };
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly daemon: Daemon,
    /** The temporary directory of an ephemeral engine, removed last. */
    private readonly scratch: string | null,
    private readonly cleanup: boolean,
    private readonly releaseSignals: () => void,
  ) {
    const ctx = this.ctx;
    this.networks = {
      create: async (name, options = {}) => {
        const { Id } = await ctx.networks.create({
          Name: name,
          Internal: options.internal,
          Labels: options.labels,
          Options: options.bridgeName ? { "com.docker.network.bridge.name": options.bridgeName } : undefined,
          IPAM: options.subnet ? { Config: [{ Subnet: options.subnet, Gateway: options.gateway }] } : undefined,
        });
        this.created.networks.add(Id);
        return networkInfo(ctx.networks.resolve(Id));
      },
      remove: async (nameOrId) => {
        const id = ctx.networks.resolve(nameOrId).id;
        await ctx.networks.remove(id);
        this.created.networks.delete(id);
      },
      list: () => ctx.networks.store.all().map(networkInfo),
    };
    this.volumes = {
      create: async (name, options = {}) => {
        const view = await ctx.volumes.create({ Name: name, DriverOpts: options.options, Labels: options.labels });
        this.created.volumes.add(view.Name);
        return volumeInfo(view);
      },
      remove: async (name, options = {}) => {
        await ctx.volumes.remove(name, options.force ?? false);
        this.created.volumes.delete(name);
      },
      list: () => ctx.volumes.list().map(volumeInfo),
    };
  }

  /** Start the services on the data root `options` describe; fails if a daemon or engine already owns it. */
  static async open(options: EngineOptions = {}): Promise<BunkerEngine> {
    const ephemeral = options.ephemeral ?? false;
    const config = resolveConfig(
      {},
      {
        dataRoot: options.dataRoot,
        storageDriver: options.storageDriver,
        registryMirrors: options.registryMirrors,
        insecureRegistries: options.insecureRegistries,
        bridge: options.bridge,
        bip: options.bip,
        logLevel: options.logLevel ?? "warn",
        liveRestore: options.liveRestore,
        ephemeral,
      },
    );
    // Nothing listens and nothing else needs finding this process.
    config.hosts = [];
    config.pidfile = "";
    const scratch = applyEphemeral(
      config,
      { hosts: true, pidfile: true, dataRoot: options.dataRoot !== undefined, bridge: options.bridge !== undefined, bip: options.bip !== undefined },
      ephemeral && options.bip === undefined ? hostRoutes() : "",
    );
    const starting = Daemon.start(config, SERVICES).catch((err: unknown) => {
      if (scratch) removeEphemeralDir(scratch);
      throw err;
    });
    // Handled from the start: a CI job cancelled while the engine comes up must not leave its bridge behind.
    let engine: BunkerEngine | undefined;
    const releaseSignals =
      ephemeral && (options.handleSignals ?? true)
        ? closeOnSignals({
            close: async () => {
              await starting.catch(() => {});
              await engine?.close();
            },
          })
        : () => {};
    try {
      engine = new BunkerEngine(await starting, scratch, ephemeral || (options.cleanup ?? false), releaseSignals);
    } catch (err) {
      releaseSignals();
      throw err;
    }
    return engine;
  }

  /** The data root in use (a temporary directory for an ephemeral engine). */
  get dataRoot(): string {
    return this.daemon.config.dataRoot;
  }

  /** The Linux bridge of the default network (`none` without one). */
  get bridge(): string {
    return this.daemon.config.bridge;
  }

  private get ctx(): DaemonContext {
    return this.daemon.context;
  }

  private get jobs(): Engine {
    return this.daemon.engine;
  }

  // ---- images ----

  async pull(reference: string, options: PullOptions = {}): Promise<PulledImage> {
    const { onProgress } = options;
    const progress = jsonMessages((m) => {
      if (onProgress && m.status) onProgress({ status: m.status, id: m.id, current: m.progressDetail?.current, total: m.progressDetail?.total });
    });
    const result = await this.jobs.run("pull", { reference, platform: options.platform, credentials: options.credentials }, { stdout: progress, signal: options.signal });
    return { ...imageInfo(result.image), digest: result.digest };
  }

  /**
   * Build an image from a context directory with the classic builder (as `DOCKER_BUILDKIT=0 docker build`).
   * A failing RUN step rejects with RunStepFailed, whose `code` is the command's exit status.
   */
  async build(contextDir: string, options: BuildOptions = {}): Promise<BuildResult> {
    const packed = packDirectory(contextDir, options.dockerfile);
    const { onOutput } = options;
    const output = jsonMessages((m) => {
      if (!onOutput) return;
      if (m.stream) onOutput(m.stream);
      else if (m.status) onOutput(`${m.id ? `${m.id}: ` : ""}${m.status}\n`);
    });
    const args: BuildJobArgs = {
      body: packed.body,
      dockerfile: packed.dockerfile,
      options: {
        tags: (options.tags ?? []).map((t) => formatReference(parseReference(t))),
        buildArgs: options.buildArgs ?? {},
        target: options.target,
        noCache: options.noCache ?? false,
        pull: options.pull ?? false,
        rm: true,
        forceRm: true,
        labels: options.labels ?? {},
        quiet: false,
        platform: options.platform,
        networkMode: options.network ?? "default",
      },
      registryConfig: new Map(),
    };
    return this.jobs.run("build", args, { stdout: output, signal: options.signal });
  }

  images(): ImageInfo[] {
    return this.ctx.images.graph.list().map(imageInfo);
  }

  private async ensureImage(reference: string, policy: PullPolicy): Promise<void> {
    if (policy === "never") return;
    if (policy === "missing") {
      try {
        this.ctx.images.resolve(reference);
        return;
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    await this.pull(reference);
  }

  // ---- containers ----

  /** Create a container (pulling its image when missing, unless `pull: "never"`); returns its id. */
  async create(options: ContainerOptions): Promise<string> {
    await this.ensureImage(options.image, options.pull ?? "missing");
    const { Id, Warnings } = await this.jobs.run("container.create", { body: createRequest(options), name: options.name });
    for (const warning of Warnings) log.warn(warning, { container: Id });
    this.created.containers.add(Id);
    return Id;
  }

  /** Start a container; starting a running one is not an error. */
  async start(id: string): Promise<void> {
    await this.jobs.run("container.start", { id }).catch(ignore(NotModifiedError));
  }

  /** Stop signal, then SIGKILL after the timeout; stopping a stopped container is not an error. */
  async stop(id: string, options: StopOptions = {}): Promise<void> {
    await this.jobs.run("container.stop", { id, timeout: options.timeout, signal: options.signal }).catch(ignore(NotModifiedError));
  }

  async kill(id: string, signal = "SIGKILL"): Promise<void> {
    await this.jobs.run("container.kill", { id, signal });
  }

  /** `force` kills a running container first; `volumes` also removes its anonymous volumes (docker rm -v). */
  async remove(id: string, options: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    const fullId = this.ctx.containers.get(id).id;
    await this.jobs.run("container.remove", { id: fullId, force: options.force ?? false, volumes: options.volumes ?? false });
    this.created.containers.delete(fullId);
  }

  /** The container's exit code once it is not running (at once if it is not). */
  async wait(id: string): Promise<number> {
    return (await this.jobs.run("container.wait", { id, condition: "not-running" })).StatusCode;
  }

  inspect(id: string): ContainerInfo {
    return containerInfo(this.ctx.containers.get(id));
  }

  /** Every container of this data root (running or not). */
  containers(): ContainerInfo[] {
    return this.ctx.containers.store.all().map(containerInfo);
  }

  /**
   * `docker run` without a TTY: create (pulling when missing), attach, start, and collect stdout and stderr
   * until the container exits. The exit code is the container's.
   */
  async run(image: string, cmd: string[], options: RunOptions = {}): Promise<RunResult> {
    const withStdin = options.stdin !== undefined;
    const request = { ...options.request, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true, StdinOnce: withStdin };
    const id = await this.create({ ...options, image, cmd, tty: false, openStdin: withStdin, request });
    const conn = new MemoryConnection(options.stdin);
    // Attached and waited on before the start, as docker run does, so no output and no exit is missed.
    const giveUp = new AbortController();
    const attached = this.jobs.run("container.attach", { id, conn, stdin: withStdin, stdout: true, stderr: true, logs: false, stream: true, detachKeys: new Uint8Array(0) }, { signal: giveUp.signal });
    const exited = this.jobs.run("container.wait", { id, condition: "next-exit" }, { signal: giveUp.signal });
    const output = collect(decodeFrames(conn.output()), options);
    try {
      await this.jobs.run("container.start", { id });
    } catch (err) {
      // It never ran: nothing will exit, and nothing more will be written.
      giveUp.abort();
      await conn.end();
      await Promise.allSettled([attached, exited, output]);
      if (options.remove) await this.remove(id, { force: true }).catch(() => {});
      throw err;
    }
    const [{ StatusCode }, , collected] = await Promise.all([exited, attached, output]);
    if (options.remove && !options.autoRemove) await this.remove(id, { force: true }).catch(ignore(NotFoundError));
    return { id, exitCode: StatusCode, ...collected };
  }

  /** The container's log, line by line; with `follow`, until the container stops (or the loop ends). */
  async *logs(id: string, options: LogsOptions = {}): AsyncGenerator<LogLine> {
    const c = this.ctx.containers.get(id);
    if (c.hostConfig.LogConfig.Type !== "json-file") throw new NotImplementedError("configured logging driver does not support reading");
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const follow = options.follow ?? false;
    const chunks = logStream({
      path: this.ctx.containers.logPath(c.id),
      maxFiles: rotationOf(c.hostConfig.LogConfig.Config).maxFiles,
      runEnded: follow ? this.ctx.containers.runEnded(c.id) : null,
      query: { stdout: options.stdout ?? true, stderr: options.stderr ?? true, ...(options.tail !== undefined ? { tail: options.tail } : {}) },
      follow,
      timestamps: false,
      tty: c.config.Tty,
      signal: stop.signal,
    });
    const decoder = new TextDecoder();
    try {
      for await (const frame of c.config.Tty ? rawFrames(chunks) : decodeFrames(chunks)) yield { stream: frame.stream, text: decoder.decode(frame.payload) };
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      stop.abort();
    }
  }

  /** Run a command in a running container and collect its output and exit code. */
  async exec(id: string, cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const withStdin = options.stdin !== undefined;
    const { Id: execId } = await this.jobs.run("exec.create", {
      container: id,
      body: {
        Cmd: cmd,
        Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
        WorkingDir: options.workdir,
        User: options.user,
        Privileged: options.privileged,
        AttachStdin: withStdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      },
    });
    // The exit code travels in the exec_die event; no exec_start means the command never ran.
    let started = false;
    let exitCode: number | null = null;
    const unsubscribe = this.ctx.engine.events.subscribe((e) => {
      if (e.Actor.Attributes.execID !== execId) return;
      if (e.Action.startsWith("exec_start")) started = true;
      else if (e.Action === "exec_die") exitCode = Number(e.Actor.Attributes.exitCode);
    });
    const conn = new MemoryConnection(options.stdin);
    // Before exec_start, stderr can only be the engine's message of why the command could not start.
    const stderr: Uint8Array[] = [];
    const { onStderr } = options;
    const output = collect(decodeFrames(conn.output()), {
      onStdout: options.onStdout,
      onStderr: async (chunk) => {
        if (started && onStderr) await onStderr(chunk);
        else stderr.push(chunk);
      },
    });
    try {
      await this.jobs.run("exec.start", { id: execId, tty: false, conn });
      const { stdout } = await output;
      const stderrText = Buffer.concat(stderr).toString("utf8");
      if (!started) return { exitCode: /not found|no such file/i.test(stderrText) ? EXEC_NOT_FOUND : EXEC_CANNOT_RUN, stdout, stderr: stderrText };
      return { exitCode: exitCode ?? EXEC_CANNOT_RUN, stdout, stderr: stderrText };
    } finally {
      unsubscribe();
      await conn.end();
    }
  }

  // ---- closing ----

  /**
   * Stop the engine. With `cleanup` (always for ephemeral engines) what it created goes first: containers
   * (killed), networks, volumes; an ephemeral engine then removes every trace of itself from the host.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.releaseSignals();
      if (this.cleanup) await this.removeCreated();
      await this.daemon.stop();
      if (this.scratch) removeEphemeralDir(this.scratch);
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async removeCreated(): Promise<void> {
    const failed = (what: string, name: string) => (err: unknown) => {
      if (!(err instanceof NotFoundError)) log.warn(`removing a ${what} at close failed`, { name, error: err instanceof Error ? err.message : String(err) });
    };
    await Promise.all([...this.created.containers].map((id) => this.remove(id, { force: true, volumes: true }).catch(failed("container", id))));
    for (const id of this.created.networks) await this.networks.remove(id).catch(failed("network", id));
    for (const name of this.created.volumes) await this.volumes.remove(name, { force: true }).catch(failed("volume", name));
  }
}

/** A job output that hands each JSON-lines message (pull and build progress) to `onMessage`. */
function jsonMessages(onMessage: (m: JsonMessage) => void): JobOutput {
  return {
    write: async (data) => {
      const text = typeof data === "string" ? data : new TextDecoder().decode(data);
      for (const line of text.split("\n")) if (line) onMessage(JSON.parse(line) as JsonMessage);
    },
  };
}

/** A rejection handler that swallows errors of `type` (e.g. NotModified for an idempotent start). */
function ignore(type: new (...args: never[]) => Error): (err: unknown) => void {
  return (err) => {
    if (!(err instanceof type)) throw err;
  };
}

/** Each frame to its stream's callback when there is one, else into the returned text. */
async function collect(
  frames: AsyncIterable<Frame>,
  sinks: { onStdout?: (chunk: Uint8Array) => void | Promise<void>; onStderr?: (chunk: Uint8Array) => void | Promise<void> },
): Promise<{ stdout: string; stderr: string }> {
  const kept = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  for await (const frame of frames) {
    const sink = frame.stream === "stdout" ? sinks.onStdout : sinks.onStderr;
    if (sink) await sink(frame.payload);
    else kept[frame.stream].push(frame.payload);
  }
  return { stdout: Buffer.concat(kept.stdout).toString("utf8"), stderr: Buffer.concat(kept.stderr).toString("utf8") };
}
