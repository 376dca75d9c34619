/**
 * The container service: create, start, stop, kill, restart, pause, rename, remove, wait, attach — and what
 * happens when a container's process exits (state, events, attachments, restart policy, --rm).
 *
 * Containers do not outlive the daemon yet: at shutdown every running container is stopped (its stop signal,
 * then SIGKILL) so nothing is orphaned, and at start-up any container still recorded as running is reconciled
 * to "exited" (its leftovers killed, unmounted, its cgroup removed). Restart policies `always` and
 * `unless-stopped` bring such containers back when the daemon starts again. A later "keeper" makes them survive.
 */
import type { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { CgroupManager } from "../../drivers/exec/cgroups";
import { ExecutableNotFoundError, ExecutablePermissionError, LaunchError } from "../../drivers/exec/errors";
import { resizePty } from "../../drivers/exec/stdio";
import { close } from "../../drivers/libc/libc";
import type { HijackedConnection } from "../api/http/hijack";
import type { DaemonConfig } from "../daemon/config";
import type { DataRoot } from "../daemon/layout";
import type { EventBus } from "../engine/events";
import { BunkerError, ConflictError, InvalidParameterError, NotFoundError, NotModifiedError, SystemError } from "../errors";
import type { ImageLookup } from "../images/types";
import { log } from "../util/log";
import { checkNameFree, newContainerRecord, writeEtcFiles } from "./create";
import type { CreateRequest } from "./create-config";
import type { HostLimits } from "./host-config";
import { Attachment, AttachHub, pumpClientInput, type AttachStreams } from "./io/attach";
import { wireContainerIo } from "./io/container-io";
import { JsonFileLogger } from "./logs/json-file";
import { rotationOf } from "./logs/options";
import { snapshotLogs } from "./logs/reader";
import { normalizeName } from "./names";
import { ContainerNetworks } from "./network";
import type { NetworkService } from "../networks/service";
import { Backoff, shouldRestart } from "./restart-policy";
import { launchRun, rootfsOf, teardownRun, type RuntimeDeps } from "./runtime";
import { parseSignal, SIGKILL, SIGTERM } from "./signals";
import { ContainerStore } from "./store";
import { nowRfc3339 } from "./time";
import { emptyNetworkSettings, ZERO_TIME, type ContainerRecord } from "./types";
import { Waiters, type WaitResult } from "./waiters";
import { KeyedLock } from "./keyed-lock";

export interface ContainerServiceDeps {
  db: Database;
  dataRoot: DataRoot;
  config: DaemonConfig;
  images: ImageLookup;
  events: EventBus;
  cgroups: CgroupManager;
  hostLimits: HostLimits;
  networks: NetworkService;
}

/** A container's process while it runs. */
export interface ActiveRun {
  pid: number;
  startedAtMs: number;
  kill(signal: number): boolean;
  /** A dup of the pty master for resize, or null without a TTY. */
  ptyFd: number | null;
  /** Settles once the exit has been handled: state saved, resources released, attachments ended. */
  finished: Promise<void>;
}

export type WaitCondition = "not-running" | "next-exit" | "removed";

const DEFAULT_STOP_TIMEOUT_S = 10;
const SHUTDOWN_STOP_CAP_S = 10;
/** Docker's exit code for a container whose process was lost (the daemon died under it). */
const LOST_EXIT_CODE = 255;

export class ContainerService {
  readonly store: ContainerStore;
  readonly networks: ContainerNetworks;
  private readonly runs = new Map<string, ActiveRun>();
  private readonly hubs = new Map<string, AttachHub>();
  private readonly loggers = new Map<string, JsonFileLogger>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly restartTimers = new Map<string, Timer>();
  private readonly removing = new Set<string>();
  private readonly pendingRemovals = new Set<Promise<unknown>>();
  private readonly locks = new KeyedLock();
  private readonly waiters = new Waiters();
  private shuttingDown = false;
  private readonly runtime: RuntimeDeps;
  /** Listeners told when a container's run ends (exec records are closed then). */
  private readonly runEndListeners = new Set<(id: string) => void>();

  constructor(private readonly deps: ContainerServiceDeps) {
    this.store = new ContainerStore(deps.db);
    this.networks = new ContainerNetworks(deps.networks, (ref) => {
      const c = this.get(ref);
      const run = this.runs.get(c.id);
      if (!run) throw new ConflictError(`cannot join network namespace of a non running container: ${c.id}`);
      return { id: c.id, pid: run.pid };
    });
    this.runtime = {
      graphDriver: deps.images.graphDriver,
      cgroups: deps.cgroups,
      networks: this.networks,
      cgroupNamespace: deps.cgroups.version === "2" ? "private" : "host",
      containerDir: (id) => deps.dataRoot.container(id),
    };
    mkdirSync(deps.dataRoot.containers, { recursive: true, mode: 0o710 });
  }

  // ---- lookup ----

  /** By full id, name (with or without "/"), or unique id prefix; 404 `No such container: <ref>`. */
  get(ref: string): ContainerRecord {
    const found = this.find(ref);
    if (!found) throw new NotFoundError(`No such container: ${ref}`);
    return found;
  }

  find(ref: string): ContainerRecord | null {
    if (!ref) return null;
    const byId = this.store.get(ref);
    if (byId) return byId;
    const byName = this.store.idByName(ref.replace(/^\//, ""));
    if (byName) return this.store.get(byName);
    if (!/^[a-f0-9]+$/.test(ref)) return null;
    const ids = this.store.idsByPrefix(ref);
    if (ids.length > 1) throw new InvalidParameterError(`multiple IDs found with provided prefix: ${ref}`);
    return ids.length === 1 ? this.store.get(ids[0]!) : null;
  }

  activeRun(id: string): ActiveRun | undefined {
    return this.runs.get(id);
  }

  logPath(id: string): string {
    return join(this.deps.dataRoot.container(id), `${id}-json.log`);
  }

  containerDir(id: string): string {
    return this.deps.dataRoot.container(id);
  }

  rootfs(id: string): string {
    return rootfsOf(this.containerDir(id));
  }

  /** Size of the RW layer, and of the whole root filesystem (docker's SizeRw / SizeRootFs). */
  async sizes(c: ContainerRecord): Promise<{ rw: number; rootFs: number }> {
    const rw = (await this.deps.images.graphDriver.usage(c.id).catch(() => ({ size: 0 }))).size;
    let imageSize = 0;
    try {
      imageSize = this.deps.images.resolve(c.imageId).size;
    } catch {
      // the image is gone (removed with force): only the RW layer counts
    }
    return { rw, rootFs: rw + imageSize };
  }

  onRunEnd(listener: (id: string) => void): void {
    this.runEndListeners.add(listener);
  }

  // ---- create ----

  async create(req: CreateRequest, name: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    const { record, image, warnings } = newContainerRecord(req, name, {
      images: this.deps.images,
      hostLimits: this.deps.hostLimits,
      logOpts: this.deps.config.logOpts,
      networks: this.networks,
      ownerOfName: (n) => this.store.idByName(n),
    });
    const dir = this.containerDir(record.id);
    try {
      await this.deps.images.graphDriver.prepare(record.id, image.topLayer);
      mkdirSync(dir, { recursive: true, mode: 0o710 });
      writeEtcFiles(record, dir, this.deps.config.dns, this.networks);
      // The name may have been taken while the snapshot was prepared.
      checkNameFree(record.name, (n) => this.store.idByName(n));
      this.store.insert(record);
    } catch (err) {
      await this.deps.images.graphDriver.remove(record.id).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    this.publish(record, "create");
    return { Id: record.id, Warnings: warnings };
  }

  // ---- start ----

  async start(ref: string): Promise<void> {
    const id = this.get(ref).id;
    await this.locks.run(id, async () => {
      const c = this.get(id);
      if (this.runs.has(id)) throw new NotModifiedError("container already started");
      if (this.removing.has(id)) throw new ConflictError(`container ${id} is marked for removal and cannot be started`);
      this.cancelRestart(id);
      c.manuallyStopped = false;
      c.restartCount = 0;
      this.backoffs.get(id)?.reset();
      await this.startRun(c);
    });
  }

  private hub(id: string): AttachHub {
    let hub = this.hubs.get(id);
    if (!hub) this.hubs.set(id, (hub = new AttachHub()));
    return hub;
  }

  private async startRun(c: ContainerRecord): Promise<void> {
    const id = c.id;
    const logConfig = c.hostConfig.LogConfig;
    const logger = logConfig.Type === "json-file" ? new JsonFileLogger(this.logPath(id), rotationOf(logConfig.Config)) : null;
    let launched;
    try {
      launched = await launchRun(c, this.runtime);
    } catch (err) {
      logger?.close();
      this.startFailed(c, err);
      throw startError(err);
    }
    const { process: proc, network } = launched;
    if (logger) this.loggers.set(id, logger);
    const { ptyFd, outputDone } = wireContainerIo(proc.stdio, c.config.OpenStdin, this.hub(id), logger);

    const run: ActiveRun = {
      pid: proc.pid,
      startedAtMs: Date.now(),
      kill: (signal) => proc.kill(signal),
      ptyFd,
      finished: Promise.resolve(),
    };
    this.runs.set(id, run);
    c.state = { ...c.state, Status: "running", Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: proc.pid, ExitCode: 0, Error: "", StartedAt: nowRfc3339() };
    c.networkSettings = network;
    this.store.saveState(c);
    this.publish(c, "start");
    run.finished = proc.exited
      .catch((err: unknown) => {
        log.error("lost track of a container's process", { id, error: String(err) });
        return { exitCode: LOST_EXIT_CODE, signal: null };
      })
      .then((status) => this.handleExit(id, run, status.exitCode, outputDone, logger))
      .catch((err: unknown) => log.error("handling a container's exit failed", { id, error: String(err) }));
  }

  /** A start that failed before the process ran: docker records the error and exit code (127, 126, 128). */
  private startFailed(c: ContainerRecord, err: unknown): void {
    const code = err instanceof LaunchError ? err.exitCode : 128;
    const message = err instanceof Error ? err.message : String(err);
    c.state = { ...c.state, Status: c.state.StartedAt === ZERO_TIME ? "created" : "exited", Running: false, Pid: 0, ExitCode: code, Error: message };
    this.store.saveState(c);
    if (c.hostConfig.AutoRemove) this.removeInBackground(c.id);
  }

  private async handleExit(id: string, run: ActiveRun, exitCode: number, outputDone: Promise<void>, logger: JsonFileLogger | null): Promise<void> {
    // Everything else in the container dies with its init (the pid namespace); make sure of it before draining.
    await this.deps.cgroups.kill(id, SIGKILL).catch(() => 0);
    await outputDone;
    logger?.close();
    this.loggers.delete(id);
    const oomKilled = this.deps.cgroups.oomKilled(id);
    const c = this.store.get(id);
    if (c) await teardownRun(c, this.runtime).catch((err) => log.warn("releasing a stopped container's resources failed", { id, error: String(err) }));
    if (run.ptyFd !== null) close(run.ptyFd);
    this.runs.delete(id);
    for (const listener of this.runEndListeners) listener(id);
    if (!c) {
      await this.hubs.get(id)?.endRun();
      return;
    }
    c.state = { ...c.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exitCode, OOMKilled: oomKilled, FinishedAt: nowRfc3339() };
    c.networkSettings = emptyNetworkSettings();
    if (oomKilled) this.publish(c, "oom");
    this.publish(c, "die", { exitCode: String(exitCode) });
    const restart = !this.shuttingDown && !this.removing.has(id) && shouldRestart(c.hostConfig.RestartPolicy, exitCode, c.restartCount, c.manuallyStopped);
    if (restart) c.state = { ...c.state, Status: "restarting", Restarting: true };
    this.store.saveState(c);
    // Attached clients learn of the exit once the state they may inspect next is final.
    await this.hubs.get(id)?.endRun();
    this.waiters.exited(id, { StatusCode: exitCode, Error: null });
    if (restart) this.scheduleRestart(c, Date.now() - run.startedAtMs);
    else if (c.hostConfig.AutoRemove && !this.removing.has(id)) this.removeInBackground(id);
  }

  private scheduleRestart(c: ContainerRecord, ranForMs: number): void {
    let backoff = this.backoffs.get(c.id);
    if (!backoff) this.backoffs.set(c.id, (backoff = new Backoff()));
    const delay = backoff.next(ranForMs);
    const timer = setTimeout(() => {
      this.restartTimers.delete(c.id);
      void this.locks
        .run(c.id, async () => {
          const current = this.store.get(c.id);
          if (!current || this.runs.has(c.id) || current.state.Status !== "restarting" || this.shuttingDown) return;
          current.restartCount++;
          await this.startRun(current);
          this.publish(current, "restart");
        })
        .catch((err) => log.warn("restarting a container failed", { id: c.id, error: String(err) }));
    }, delay);
    this.restartTimers.set(c.id, timer);
  }

  /** A pending restart is called off (stop, kill, rm, or a start of its own); the container is then simply exited. */
  private cancelRestart(id: string): boolean {
    const timer = this.restartTimers.get(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.restartTimers.delete(id);
    const c = this.store.get(id);
    if (c && c.state.Restarting) {
      c.state = { ...c.state, Status: "exited", Restarting: false };
      this.store.saveState(c);
    }
    return true;
  }

  // ---- stop, kill, restart ----

  async stop(ref: string, timeoutS: number | undefined, signalName: string | undefined): Promise<void> {
    const id = this.get(ref).id;
    await this.locks.run(id, async () => {
      const c = this.get(id);
      const run = this.runs.get(id);
      // A pending restart is called off; otherwise there is nothing to stop.
      if (!run && !this.cancelRestart(id)) throw new NotModifiedError("container already stopped");
      const fresh = this.get(id);
      fresh.manuallyStopped = true;
      this.store.saveState(fresh);
      if (!run) return;
      await this.stopRun(c, run, signalName ? parseSignal(signalName) : stopSignalOf(c), timeoutS ?? c.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S);
      this.publish(c, "stop");
    });
  }

  /** Stop signal, then SIGKILL for everything in the container after `timeoutS` (negative: wait forever). */
  private async stopRun(c: ContainerRecord, run: ActiveRun, signal: number, timeoutS: number): Promise<void> {
    if (this.deps.cgroups.frozen(c.id)) await this.deps.cgroups.thaw(c.id);
    if (signal !== SIGKILL) {
      this.publish(c, "kill", { signal: String(signal) });
      run.kill(signal);
      if (timeoutS < 0) return run.finished;
      const stopped = await Promise.race([run.finished.then(() => true), Bun.sleep(timeoutS * 1000).then(() => false)]);
      if (stopped) return;
    }
    this.publish(c, "kill", { signal: String(SIGKILL) });
    await this.deps.cgroups.kill(c.id, SIGKILL).catch(() => 0);
    run.kill(SIGKILL);
    await run.finished;
  }

  async kill(ref: string, signalName: string | undefined): Promise<void> {
    const c = this.get(ref);
    const signal = signalName ? parseSignal(signalName) : SIGKILL;
    const run = this.runs.get(c.id);
    if (!run) {
      if (this.cancelRestart(c.id)) return;
      throw new ConflictError(`Container ${c.id} is not running`);
    }
    if (signal !== SIGKILL && this.deps.cgroups.frozen(c.id)) throw new ConflictError(`Container ${c.id} is paused. Unpause the container before stopping or killing`);
    if (signal === SIGKILL || signal === stopSignalOf(c)) {
      c.manuallyStopped = true;
      this.store.saveState(c);
    }
    this.publish(c, "kill", { signal: String(signal) });
    if (signal === SIGKILL) {
      await this.deps.cgroups.kill(c.id, SIGKILL).catch(() => 0);
      run.kill(SIGKILL);
      await run.finished;
    } else {
      run.kill(signal);
    }
  }

  async restart(ref: string, timeoutS: number | undefined, signalName: string | undefined): Promise<void> {
    const id = this.get(ref).id;
    await this.locks.run(id, async () => {
      const c = this.get(id);
      this.cancelRestart(id);
      const run = this.runs.get(id);
      if (run) {
        await this.stopRun(c, run, signalName ? parseSignal(signalName) : stopSignalOf(c), timeoutS ?? c.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S);
        this.publish(c, "stop");
      }
      const fresh = this.get(id);
      fresh.manuallyStopped = false;
      await this.startRun(fresh);
      this.publish(fresh, "restart");
    });
  }

  // ---- pause ----

  async pause(ref: string): Promise<void> {
    const c = this.get(ref);
    await this.locks.run(c.id, async () => {
      if (!this.runs.has(c.id)) throw new ConflictError(`Container ${c.id} is not running`);
      if (this.deps.cgroups.frozen(c.id)) throw new ConflictError(`Container ${c.id} is already paused`);
      await this.deps.cgroups.freeze(c.id);
      const fresh = this.get(c.id);
      fresh.state = { ...fresh.state, Status: "paused", Paused: true };
      this.store.saveState(fresh);
      this.publish(fresh, "pause");
    });
  }

  async unpause(ref: string): Promise<void> {
    const c = this.get(ref);
    await this.locks.run(c.id, async () => {
      if (!this.runs.has(c.id) || !this.deps.cgroups.frozen(c.id)) throw new ConflictError(`Container ${c.id} is not paused`);
      await this.deps.cgroups.thaw(c.id);
      const fresh = this.get(c.id);
      fresh.state = { ...fresh.state, Status: "running", Paused: false };
      this.store.saveState(fresh);
      this.publish(fresh, "unpause");
    });
  }

  // ---- rename, resize ----

  async rename(ref: string, newName: string): Promise<void> {
    const c = this.get(ref);
    if (!newName) throw new InvalidParameterError("Neither old nor new names may be empty");
    const name = normalizeName(newName);
    await this.locks.run(c.id, async () => {
      if (name === c.name) throw new InvalidParameterError("Renaming a container with the same name as its current name");
      checkNameFree(name, (n) => this.store.idByName(n));
      this.store.rename(c.id, name);
      this.publish({ ...c, name }, "rename", { oldName: `/${c.name}` });
    });
  }

  resize(ref: string, height: number, width: number): void {
    const c = this.get(ref);
    const run = this.runs.get(c.id);
    if (!run) throw new ConflictError(`Container ${c.id} is not running`);
    if (run.ptyFd !== null && height > 0 && width > 0) resizePty(run.ptyFd, height, width);
  }

  // ---- remove, prune ----

  async remove(ref: string, force: boolean): Promise<void> {
    const id = this.get(ref).id;
    await this.locks.run(id, async () => {
      const c = this.store.get(id);
      if (!c) throw new NotFoundError(`No such container: ${ref}`);
      const run = this.runs.get(id);
      if ((run || c.state.Restarting) && !force) {
        const what = c.state.Paused ? "paused" : c.state.Restarting ? "restarting" : "running";
        throw new ConflictError(`You cannot remove a ${what} container ${id}. Stop the container before attempting removal or force remove`);
      }
      this.removing.add(id);
      try {
        this.cancelRestart(id);
        if (run) {
          await this.deps.cgroups.kill(id, SIGKILL).catch(() => 0);
          run.kill(SIGKILL);
          await run.finished;
        }
        const last = this.store.get(id) ?? c;
        await this.deps.images.graphDriver.remove(id);
        rmSync(this.containerDir(id), { recursive: true, force: true });
        this.store.delete(id);
        await this.hubs.get(id)?.endRun();
        this.hubs.delete(id);
        this.backoffs.delete(id);
        this.publish(last, "destroy");
        this.waiters.removed(id, { StatusCode: last.state.ExitCode, Error: null });
      } finally {
        this.removing.delete(id);
      }
    });
  }

  private removeInBackground(id: string): void {
    const p = this.remove(id, true)
      .catch((err) => {
        if (!(err instanceof NotFoundError)) log.warn("auto-removing a container failed", { id, error: String(err) });
      })
      .finally(() => this.pendingRemovals.delete(p));
    this.pendingRemovals.add(p);
  }

  async prune(match: (c: ContainerRecord) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of this.store.all()) {
      if (c.state.Running || c.state.Restarting || this.runs.has(c.id) || !match(c)) continue;
      const usage = await this.deps.images.graphDriver.usage(c.id).catch(() => ({ size: 0 }));
      try {
        await this.remove(c.id, false);
        deleted.push(c.id);
        reclaimed += usage.size;
      } catch (err) {
        if (!(err instanceof NotFoundError || err instanceof ConflictError)) throw err;
      }
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  // ---- wait ----

  async wait(ref: string, condition: string, signal?: AbortSignal): Promise<WaitResult> {
    const c = this.get(ref);
    const cond = (condition || "not-running") as WaitCondition;
    if (!["not-running", "next-exit", "removed"].includes(cond)) throw new InvalidParameterError(`invalid condition: "${condition}"`);
    if (cond === "removed") return this.waiters.removal(c.id, signal);
    if (cond === "not-running" && !this.runs.has(c.id) && !c.state.Restarting) return { StatusCode: c.state.ExitCode, Error: null };
    return this.waiters.nextExit(c.id, signal);
  }

  // ---- attach ----

  /**
   * Serve one attached client until the container's run ends, the client detaches, or it goes away. Without a
   * running process the client waits for the next start (docker run attaches before it starts).
   */
  async attach(ref: string, conn: HijackedConnection, opts: AttachStreams & { logs: boolean; stream: boolean; detachKeys: Uint8Array }, signal: AbortSignal): Promise<void> {
    const c = this.get(ref);
    const tty = c.config.Tty;
    const attachment = new Attachment(conn, opts, tty);
    if (opts.logs && c.hostConfig.LogConfig.Type === "json-file") {
      for (const e of snapshotLogs(this.logPath(c.id), rotationOf(c.hostConfig.LogConfig.Config).maxFiles)()) {
        await attachment.write(e.stream, Buffer.from(e.log));
      }
    }
    if (!opts.stream) return attachment.end();
    const hub = this.hub(c.id);
    hub.add(attachment);
    this.publish(c, "attach");
    const onAbort = () => void attachment.end();
    signal.addEventListener("abort", onAbort, { once: true });
    if (opts.stdin && c.config.OpenStdin) {
      const stdin = hub.stdin;
      void pumpClientInput(conn.input, stdin, opts.detachKeys).then((detached) => {
        if (detached) void attachment.end();
        else if (c.config.StdinOnce && !tty) stdin.end();
      });
    }
    try {
      await attachment.done;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The live logger of a running container, for `logs --follow`. */
  liveLogger(id: string): JsonFileLogger | undefined {
    return this.loggers.get(id);
  }

  // ---- daemon start and stop ----

  /**
   * Reconcile the store with reality after a daemon (re)start: nothing recorded as running can be ours, so
   * what is left of it is killed and it is recorded as exited; every container's mount, cgroup and network
   * endpoints are released (a crash may have left them half set up).
   */
  async recover(): Promise<void> {
    for (const c of this.store.all()) {
      const wasRunning = c.state.Running || c.state.Restarting || c.state.Paused;
      const left = wasRunning ? await this.deps.cgroups.kill(c.id, SIGKILL).catch(() => 0) : 0;
      await teardownRun(c, this.runtime).catch((err) => log.warn("cleaning up after a lost container failed", { id: c.id, error: String(err) }));
      if (!wasRunning) continue;
      c.state = {
        ...c.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: LOST_EXIT_CODE,
        FinishedAt: nowRfc3339(), Error: "the daemon stopped while the container was running",
      };
      c.networkSettings = emptyNetworkSettings();
      this.store.saveState(c);
      log.info("container marked exited after daemon restart", { id: c.id, leftoverProcesses: left });
    }
  }

  /** `always` and `unless-stopped` containers the user did not stop come back when the daemon starts. */
  async startPolicyContainers(): Promise<void> {
    for (const c of this.store.all()) {
      const p = c.hostConfig.RestartPolicy.Name;
      if ((p === "always" || p === "unless-stopped") && !c.manuallyStopped && !this.runs.has(c.id)) {
        await this.locks.run(c.id, () => this.startRun(c)).catch((err) => log.warn("starting a container at daemon start failed", { id: c.id, error: String(err) }));
      }
    }
  }

  /** Stop every running container (stop signal, then SIGKILL) and wait for their exits to be handled. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    await Promise.all(
      [...this.runs.entries()].map(([id, run]) => {
        const c = this.store.get(id);
        if (!c) return run.finished;
        const timeout = Math.min(c.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S, SHUTDOWN_STOP_CAP_S);
        return this.stopRun(c, run, stopSignalOf(c), timeout).catch((err) => log.warn("stopping a container at shutdown failed", { id, error: String(err) }));
      }),
    );
    await Promise.all([...this.pendingRemovals]);
  }

  // ---- events ----

  publish(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.publish("container", action, c.id, { ...c.config.Labels, image: c.config.Image, name: c.name, ...extra });
  }
}

function stopSignalOf(c: ContainerRecord): number {
  return c.config.StopSignal ? parseSignal(c.config.StopSignal) : SIGTERM;
}

/** Launch failures as API errors: a missing or unrunnable executable is the request's fault (400). */
function startError(err: unknown): unknown {
  if (err instanceof BunkerError) return err;
  if (err instanceof ExecutableNotFoundError || err instanceof ExecutablePermissionError) return new InvalidParameterError(`failed to create task for container: ${err.message}`, { cause: err });
  if (err instanceof LaunchError) return new SystemError(`failed to start container: ${err.message}`, { cause: err });
  return err;
}
