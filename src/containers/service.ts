/**
 * The container service: create, start, stop, kill, restart, pause, rename, remove, wait, attach — and what
 * happens when a container's process exits (state, events, attachments, restart policy, --rm).
 *
 * Containers outlive the daemon: their processes are children of the keeper (drivers/exec/keeper), which holds
 * their stdio, writes their logs and records their exits while no daemon runs. At start-up `recover` adopts
 * what still runs (state, exit watch, attach, stdin, published ports, restart policy), records the real exit of
 * what ended meanwhile, and marks what the keeper does not know as lost. At shutdown (see `shutdown`) the
 * containers are left running (live-restore, the default), stopped (`live-restore: false`), or removed together
 * with the keeper (`--ephemeral`).
 */
import type { Database } from "bun:sqlite";
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { CgroupError, type CgroupManager } from "../../drivers/exec/cgroups";
import { ExecutableNotFoundError, ExecutablePermissionError, LaunchError } from "../../drivers/exec/errors";
import type { ExitStatus } from "../../drivers/exec/exit-watcher";
import type { Keeper } from "../../drivers/exec/keeper/client";
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
import { reapWhenEnded, type ContainerKeepers, type SurveyedRecord } from "./keepers";
import { logFiles } from "./logs/json-file";
import { rotationOf } from "./logs/options";
import { snapshotLogs } from "./logs/reader";
import { normalizeName } from "./names";
import { ContainerNetworks } from "./network";
import { planUpdate, type UpdateRequest } from "./update";
import type { NetworkService } from "../networks/service";
import { Backoff, shouldRestart } from "./restart-policy";
import { launchRun, RootfsReleases, rootfsOf, teardownRun, type RuntimeDeps } from "./runtime";
import { parseSignal, SIGKILL, SIGTERM } from "./signals";
import { ContainerStore } from "./store";
import { nowRfc3339, rfc3339Nano } from "./time";
import { ZERO_TIME, type ContainerRecord, type HealthState } from "./types";
import type { EndpointSettings, EndpointSettingsRequest } from "../networks/service";
import { Waiters, type WaitResult } from "./waiters";
import { KeyedLock } from "./keyed-lock";
import { acquireVolumes, mountPointsOf, releaseVolumes, requestedMounts, volumesFromMounts, type VolumeAccess } from "./mounts";
import type { MountPoint } from "../volumes/mount-spec";
import { TIMED_OUT, withTimeout } from "../util/timeout";
import { dockerInitInstaller } from "../../drivers/exec/init/install";

export interface ContainerServiceDeps {
  db: Database;
  dataRoot: DataRoot;
  config: DaemonConfig;
  images: ImageLookup;
  events: EventBus;
  cgroups: CgroupManager;
  hostLimits: HostLimits;
  networks: NetworkService;
  keepers: ContainerKeepers;
  volumes: VolumeAccess;
}

/** A container's process while it runs. */
export interface ActiveRun {
  pid: number;
  startedAtMs: number;
  /** The keeper holding the process. */
  keeper: Keeper;
  /** Signal the process through its keeper; false once it has exited. */
  kill(signal: number): Promise<boolean>;
  /** Settles once the exit has been handled: state saved, resources released, attachments ended. */
  finished: Promise<void>;
}

/** A container's mounted root filesystem, held for a copy or an export (see ContainerService.rootfsLease). */
export interface RootfsLease {
  record: ContainerRecord;
  rootfs: string;
  running: boolean;
  /** Idempotent. */
  release(): void;
}

export type RunStartListener = (c: ContainerRecord, startedAtMs: number, adopted: boolean) => void;

export type WaitCondition = "not-running" | "next-exit" | "removed";

const DEFAULT_STOP_TIMEOUT_S = 10;
const SHUTDOWN_STOP_CAP_S = 10;
/** Docker's exit code for a container whose process was lost (the daemon died under it). */
const LOST_EXIT_CODE = 255;
const LOST_ERROR = "container process lost while the daemon was down";
const KEEPER_LOST_ERROR = "container process lost: its keeper went away";
/** How long an exit waits for the last output to reach attached clients (a pipe another process still holds). */
const OUTPUT_DRAIN_MS = 5000;
/** How long a start abandoned by a dead daemon may take to end once killed (then its record is dropped). */
const ABANDONED_START_WAIT_MS = 5000;
/** How long a container process killed after its keeper died may take to end (it is then reaped). */
const LOST_REAP_MS = 2000;

export class ContainerService {
  readonly store: ContainerStore;
  readonly networks: ContainerNetworks;
  private readonly runs = new Map<string, ActiveRun>();
  private readonly hubs = new Map<string, AttachHub>();
  private readonly backoffs = new Map<string, Backoff>();
  private readonly restartTimers = new Map<string, Timer>();
  private readonly removing = new Set<string>();
  /** Found exited at start-up with a restart policy that asks for a start. */
  private readonly exitedWhileDown = new Set<string>();
  private readonly pendingRemovals = new Set<Promise<unknown>>();
  private readonly locks = new KeyedLock();
  private readonly waiters = new Waiters();
  private shuttingDown = false;
  /** Until `recover` has run, containers recorded as running may still be (the keeper decides). */
  private recovered = false;
  private readonly runtime: RuntimeDeps;
  /** Listeners told when a container's run ends (exec records are closed then). */
  private readonly runEndListeners = new Set<(id: string) => void>();
  /** Listeners told when a run begins or is adopted after a daemon restart (healthchecks start then). */
  private readonly runStartListeners = new Set<RunStartListener>();

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
      rootfsReleases: new RootfsReleases(),
      cgroups: deps.cgroups,
      networks: this.networks,
      volumes: deps.volumes,
      cgroupNamespace: deps.cgroups.version === "2" ? "private" : "host",
      containerDir: (id) => deps.dataRoot.container(id),
      logPath: (id) => this.logPath(id),
      findContainer: (ref) => this.find(ref),
      initByDefault: deps.config.init,
      dockerInit: dockerInitInstaller(deps.dataRoot.dockerInit),
    };
    mkdirSync(deps.dataRoot.containers, { recursive: true, mode: 0o710 });
  }

  // ---- lookup ----

  /** A runtime `network connect/disconnect` changed the endpoints of a running container. */
  updateEndpoint(id: string, network: string, settings: EndpointSettings | null): void {
    const c = this.store.get(id);
    if (!c) return;
    if (settings) c.networkSettings.Networks[network] = settings;
    else delete c.networkSettings.Networks[network];
    this.store.saveState(c);
  }

  /** `network connect/disconnect` on a container that is not running: what it joins at its next start. */
  configureEndpoint(id: string, network: string, request: EndpointSettingsRequest | null, shown: EndpointSettings | null): void {
    const c = this.store.get(id);
    if (!c) return;
    const endpoints = { ...c.networkingConfig.EndpointsConfig };
    if (request) endpoints[network] = request;
    else delete endpoints[network];
    c.networkingConfig = { ...c.networkingConfig, EndpointsConfig: endpoints };
    if (shown) c.networkSettings.Networks[network] = shown;
    else delete c.networkSettings.Networks[network];
    this.store.saveNetworking(c);
  }

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

  /**
   * The pid of a running container; before start-up recovery, the one recorded for a container that was
   * running (so the network service keeps its endpoints until recovery decides).
   */
  runningPid(id: string): number | null {
    const run = this.runs.get(id);
    if (run) return run.pid;
    const c = this.recovered ? null : this.store.get(id);
    return c?.state.Running && c.state.Pid > 0 ? c.state.Pid : null;
  }

  /** Settles when the container's current run has ended; null when it is not running. */
  runEnded(id: string): Promise<void> | null {
    return this.runs.get(id)?.finished ?? null;
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

  /** Bytes of the container's json-file log, rotated files included. */
  logsSize(c: ContainerRecord): number {
    if (c.hostConfig.LogConfig.Type !== "json-file") return 0;
    return logFiles(this.logPath(c.id), rotationOf(c.hostConfig.LogConfig.Config).maxFiles).reduce((n, file) => n + (statSync(file, { throwIfNoEntry: false })?.size ?? 0), 0);
  }

  /** The container's `Mounts` as inspect and the list show them. */
  mountPoints(c: ContainerRecord): MountPoint[] {
    return mountPointsOf(c.mounts, (name) => this.deps.volumes.dataPath(name));
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

  /**
   * The container's root filesystem, mounted until `release` is called: a running container's own mount, or the
   * snapshot of a stopped one mounted for the lease (its start and removal wait until the lease is released).
   */
  rootfsLease(ref: string): Promise<RootfsLease> {
    const id = this.get(ref).id;
    return new Promise<RootfsLease>((resolve, reject) => {
      void this.locks
        .run(id, async () => {
          const record = this.get(id);
          const rootfs = this.rootfs(id);
          if (this.runs.has(id)) return resolve({ record, rootfs, running: true, release: () => {} });
          mkdirSync(rootfs, { recursive: true });
          await this.runtime.rootfsReleases.settled(id);
          this.deps.images.graphDriver.mountAt(id, rootfs);
          let done!: () => void;
          const released = new Promise<void>((r) => (done = r));
          resolve({ record, rootfs, running: false, release: () => done() });
          await released;
          try {
            this.deps.images.graphDriver.unmountAt(rootfs);
          } catch (err) {
            log.warn("unmounting a stopped container's root filesystem failed", { id, error: String(err) });
          }
        })
        .catch(reject);
    });
  }

  /** Run `fn` while no start, stop or removal of the container runs (commit reads its RW layer meanwhile). */
  exclusive<T>(ref: string, fn: (c: ContainerRecord) => Promise<T>): Promise<T> {
    const id = this.get(ref).id;
    return this.locks.run(id, () => fn(this.get(id)));
  }

  onRunEnd(listener: (id: string) => void): void {
    this.runEndListeners.add(listener);
  }

  onRunStart(listener: RunStartListener): void {
    this.runStartListeners.add(listener);
  }

  /** Persist a running container's `State.Health` (the healthcheck monitor's verdict). */
  saveHealth(id: string, health: HealthState): void {
    this.store.saveHealth(id, health);
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
    const inherited = volumesFromMounts(record.hostConfig.VolumesFrom ?? [], (ref) => this.get(ref));
    record.mounts = await acquireVolumes(this.deps.volumes, record.id, requestedMounts(record.hostConfig, record.config, inherited));
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
      await releaseVolumes(this.deps.volumes, record.id, record.mounts, true);
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
    const hub = this.hub(id);
    let launched;
    let keeper: Keeper;
    try {
      // Clients attached before the start (docker run, start -a) get the output from its first byte.
      keeper = await this.deps.keepers.forRun(id);
      launched = await launchRun(c, this.runtime, keeper, hub.size > 0 ? "lossless" : undefined);
    } catch (err) {
      this.startFailed(c, err);
      throw startError(err);
    }
    const { process: proc, network } = launched;
    if (proc.stdio) hub.feed(Promise.resolve(proc.stdio));
    c.state = { ...c.state, Status: "running", Running: true, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: proc.pid, ExitCode: 0, Error: "", StartedAt: nowRfc3339() };
    c.networkSettings = network;
    this.store.saveState(c);
    const startedAtMs = Date.now();
    this.track(c, keeper, proc.pid, startedAtMs, proc.exited);
    this.publish(c, "start");
    for (const listener of this.runStartListeners) listener(c, startedAtMs, false);
    await this.bindStdin(c, keeper);
  }

  /** Watch a running process of `keeper`: its exit is handled once, whichever daemon started it. */
  private track(c: ContainerRecord, keeper: Keeper, pid: number, startedAtMs: number, exited: Promise<ExitStatus>): void {
    const id = c.id;
    const run: ActiveRun = {
      pid,
      startedAtMs,
      keeper,
      kill: (signal) => keeper.kill(id, signal).catch(() => false),
      finished: Promise.resolve(),
    };
    this.runs.set(id, run);
    let lost = false;
    run.finished = exited
      .catch((err: unknown) => {
        // The keeper went away: its containers were reparented to the daemon (a subreaper), killed by the exit.
        log.error("lost track of a container's process", { id, error: String(err) });
        lost = true;
        return { exitCode: LOST_EXIT_CODE, signal: null };
      })
      .then(async (status) => {
        await this.handleExit(id, run, status.exitCode, lost ? KEEPER_LOST_ERROR : "");
        if (lost) await reapWhenEnded(pid, LOST_REAP_MS);
      })
      .catch((err: unknown) => log.error("handling a container's exit failed", { id, error: String(err) }));
  }

  /** `-i`: the hub's stdin writes to the process through a dup of the keeper's end (pipe or pty master). */
  private async bindStdin(c: ContainerRecord, keeper: Keeper): Promise<void> {
    if (!c.config.OpenStdin) return;
    // This run's pipe: should the process exit meanwhile, the next run gets a fresh one, not this fd.
    const stdin = this.hub(c.id).stdin;
    let fd: number;
    try {
      fd = await keeper.stdin(c.id);
    } catch (err) {
      log.debug("no stdin for a container (it exited already?)", { id: c.id, error: String(err) });
      return;
    }
    // A pipe reaches end of file once the keeper closed its end too; a pty is never closed from here.
    const onEnd = c.config.Tty ? undefined : () => void keeper.closeStdin(c.id).catch(() => {});
    stdin.bind(fd, onEnd);
  }

  /** A start that failed before the process ran: docker records the error and exit code (127, 126, 128). */
  private startFailed(c: ContainerRecord, err: unknown): void {
    const code = err instanceof LaunchError ? err.exitCode : 128;
    const message = err instanceof Error ? err.message : String(err);
    c.state = { ...c.state, Status: c.state.StartedAt === ZERO_TIME ? "created" : "exited", Running: false, Pid: 0, ExitCode: code, Error: message };
    this.store.saveState(c);
    if (c.hostConfig.AutoRemove) this.removeInBackground(c.id);
  }

  private async handleExit(id: string, run: ActiveRun, exitCode: number, error = ""): Promise<void> {
    // Everything else in the container dies with its init (the pid namespace); make sure of it before draining.
    await this.deps.cgroups.kill(id, SIGKILL).catch(() => 0);
    const hub = this.hubs.get(id);
    if (hub) await withTimeout(hub.outputEnded(), OUTPUT_DRAIN_MS);
    const oomKilled = this.deps.cgroups.oomKilled(id);
    const c = this.store.get(id);
    if (c) await teardownRun(c, this.runtime).catch((err) => log.warn("releasing a stopped container's resources failed", { id, error: String(err) }));
    this.runs.delete(id);
    for (const listener of this.runEndListeners) listener(id);
    if (!c) {
      await this.forgetKept(id, run.keeper);
      await hub?.endRun();
      return;
    }
    c.state = { ...c.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exitCode, Error: error, OOMKilled: oomKilled, FinishedAt: nowRfc3339() };
    c.networkSettings = this.networks.idleSettings(c);
    if (oomKilled) this.publish(c, "oom");
    this.publish(c, "die", { exitCode: String(exitCode) });
    const restart = !this.shuttingDown && !this.removing.has(id) && shouldRestart(c.hostConfig.RestartPolicy, exitCode, c.restartCount, c.manuallyStopped);
    if (restart) c.state = { ...c.state, Status: "restarting", Restarting: true };
    this.store.saveState(c);
    // Only once the exit is saved: a daemon dying before this finds the record (and its status) at start-up.
    // Sent now, it reaches the keeper before whatever a client does once it learns of the exit (a new start
    // of the same id), so the reply need not be waited for first.
    const forgotten = this.forgetKept(id, run.keeper);
    // Attached clients learn of the exit once the state they may inspect next is final.
    await hub?.endRun();
    this.waiters.exited(id, { StatusCode: exitCode, Error: null });
    if (restart) this.scheduleRestart(c, Date.now() - run.startedAtMs);
    else if (c.hostConfig.AutoRemove && !this.removing.has(id)) this.removeInBackground(id);
    await forgotten;
  }

  /** Drop the keeper's record of an exited container (and its exit file); the request is sent at once. */
  private async forgetKept(id: string, keeper: Keeper): Promise<void> {
    const removed = keeper.rm(id);
    this.deps.keepers.forget(id);
    await removed.catch((err: unknown) => log.debug("removing a keeper record failed", { id, error: String(err) }));
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
      await run.kill(signal);
      if (timeoutS < 0) return run.finished;
      const stopped = (await withTimeout(run.finished, timeoutS * 1000)) !== TIMED_OUT;
      if (stopped) return;
    }
    this.publish(c, "kill", { signal: String(SIGKILL) });
    await this.deps.cgroups.kill(c.id, SIGKILL).catch(() => 0);
    await run.kill(SIGKILL);
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
      await run.kill(SIGKILL);
      await run.finished;
    } else {
      await run.kill(signal);
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

  /** `docker update`: new limits are written to a running container's cgroup, then kept in its HostConfig. */
  async update(ref: string, body: UpdateRequest): Promise<{ Warnings: string[] }> {
    const id = this.get(ref).id;
    return this.locks.run(id, async () => {
      const c = this.get(id);
      const plan = planUpdate(c.hostConfig, body, this.deps.hostLimits);
      if (this.runs.has(id)) {
        try {
          await this.deps.cgroups.update(id, plan.resources);
        } catch (err) {
          if (err instanceof CgroupError) throw new InvalidParameterError(`Cannot update container ${id}: ${err.message}`);
          throw err;
        }
      }
      c.hostConfig = plan.hostConfig;
      this.store.saveHostConfig(c);
      this.publish(c, "update");
      return { Warnings: plan.warnings };
    });
  }

  async resize(ref: string, height: number, width: number): Promise<void> {
    const c = this.get(ref);
    const run = this.runs.get(c.id);
    if (!run) throw new ConflictError(`Container ${c.id} is not running`);
    if (c.config.Tty && height > 0 && width > 0) await run.keeper.resize(c.id, height, width).catch((err: unknown) => log.debug("resize failed", { id: c.id, error: String(err) }));
  }

  // ---- remove, prune ----

  /** `removeVolumes` (`rm -v`): the container's anonymous volumes go too, unless another container uses them. */
  async remove(ref: string, force: boolean, removeVolumes = false): Promise<void> {
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
          await run.kill(SIGKILL);
          await run.finished;
        }
        const last = this.store.get(id) ?? c;
        await this.deps.images.graphDriver.remove(id);
        this.discardContainerDir(id);
        await releaseVolumes(this.deps.volumes, id, last.mounts, removeVolumes);
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

  /**
   * The container's directory (its /etc files and log) leaves with one rename into tmp/, which the daemon
   * empties at start-up, and is deleted in the background: freeing a file's or directory's blocks can take
   * milliseconds each (a synchronous discard on some hosts).
   */
  private discardContainerDir(id: string): void {
    const doomed = join(this.deps.dataRoot.tmp, `container-${crypto.randomUUID()}`);
    try {
      renameSync(this.containerDir(id), doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    void rm(doomed, { recursive: true, force: true }).catch((err: unknown) => log.warn("deleting a removed container's files failed", { id, error: String(err) }));
  }

  /** `--rm`: the container and its anonymous volumes, as docker does. */
  private removeInBackground(id: string): void {
    const p = this.remove(id, true, true)
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
    // A running container's live output, relayed once for every client; a client that attaches before a
    // start gets it from that start instead (see startRun).
    const run = this.runs.get(c.id);
    if (run && !hub.fed) hub.feed(run.keeper.attach(c.id, "live"));
    // Input may make the container answer at once: only pass it on once that answer reaches this client.
    await hub.outputSubscribed();
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

  // ---- daemon start and stop ----

  /**
   * Reconcile the store with the keepers after a daemon (re)start. A container the keeper still runs is
   * adopted; one that exited meanwhile gets its real exit code and time; one the keeper does not know was
   * lost (the keeper itself died, or the host rebooted) and is recorded so. Whatever is not running has its
   * mount, cgroup and network endpoints released (a crash may have left them half set up); restart policies
   * then apply (see startPolicyContainers).
   */
  async recover(): Promise<void> {
    const kept = await this.deps.keepers.survey();
    for (const c of this.store.all()) {
      const found = kept.get(c.id);
      kept.delete(c.id);
      try {
        if (found?.record.state === "running") await this.adopt(c, found);
        else await this.settleAfterRestart(c, found);
      } catch (err) {
        log.error("recovering a container failed", { id: c.id, error: String(err) });
      }
    }
    // Kept processes of containers that are gone from the store (a daemon died between a removal's steps).
    for (const [id, { record, keeper }] of kept) {
      void (async () => {
        if (record.state !== "exited") await keeper.kill(id, SIGKILL);
        await keeper.wait(id);
        await this.forgetKept(id, keeper);
        await this.deps.cgroups.destroy(id);
      })().catch((err: unknown) => log.warn("ending the process of a removed container failed", { id, error: String(err) }));
    }
    this.recovered = true;
  }

  /** A container that kept running while no daemon did: it is ours again, as if this daemon had started it. */
  private async adopt(c: ContainerRecord, { record, keeper }: SurveyedRecord): Promise<void> {
    const paused = this.deps.cgroups.frozen(c.id);
    c.state = { ...c.state, Status: paused ? "paused" : "running", Running: true, Paused: paused, Restarting: false, Dead: false, Pid: record.pid, Error: "" };
    if (c.state.StartedAt === ZERO_TIME) c.state.StartedAt = rfc3339Nano(record.startedNs);
    this.store.saveState(c);
    const startedAtMs = Number(record.startedNs / 1_000_000n);
    this.track(c, keeper, record.pid, startedAtMs, keeper.wait(c.id));
    for (const listener of this.runStartListeners) listener(c, startedAtMs, true);
    await this.networks.adopt(c).catch((err: unknown) => log.warn("publishing an adopted container's ports failed", { id: c.id, error: String(err) }));
    await this.bindStdin(c, keeper);
    log.info("container adopted", { id: c.id, pid: record.pid });
  }

  /** A container that is not running (any more): its real exit if it ended while no daemon ran, resources released. */
  private async settleAfterRestart(c: ContainerRecord, found: SurveyedRecord | undefined): Promise<void> {
    if (found && found.record.state !== "exited") {
      // A process that never got going (its daemon died during the start) is not adopted.
      await found.keeper.kill(c.id, SIGKILL);
      await withTimeout(found.keeper.wait(c.id).catch(() => {}), ABANDONED_START_WAIT_MS);
    }
    if (c.state.Running) await this.deps.cgroups.kill(c.id, SIGKILL).catch(() => 0);
    await teardownRun(c, this.runtime).catch((err) => log.warn("cleaning up after a stopped container failed", { id: c.id, error: String(err) }));
    if (found) await this.forgetKept(c.id, found.keeper);
    if (c.state.Restarting) {
      // Its exit was handled; the restart it was waiting for is due now.
      c.state = { ...c.state, Status: "exited", Restarting: false };
      this.store.saveState(c);
      this.exitedWhileDown.add(c.id);
      return;
    }
    if (!c.state.Running) return;
    const exit = found?.record.exit ? { exit: found.record.exit, finishedNs: found.record.finishedNs } : this.deps.keepers.exitFile(c.id);
    const exitCode = exit?.exit.exitCode ?? LOST_EXIT_CODE;
    c.state = {
      ...c.state, Status: "exited", Running: false, Paused: false, Restarting: false, Pid: 0, ExitCode: exitCode,
      FinishedAt: exit ? rfc3339Nano(exit.finishedNs) : nowRfc3339(), Error: exit ? "" : LOST_ERROR,
    };
    c.networkSettings = this.networks.idleSettings(c);
    this.store.saveState(c);
    this.publish(c, "die", { exitCode: String(exitCode) });
    log.info("container exited while the daemon was down", { id: c.id, exitCode, lost: !exit });
    if (shouldRestart(c.hostConfig.RestartPolicy, exitCode, c.restartCount, c.manuallyStopped)) this.exitedWhileDown.add(c.id);
    else if (c.hostConfig.AutoRemove) this.removeInBackground(c.id);
  }

  /**
   * At daemon start: containers whose policy says so come back — `always` and `unless-stopped` ones the user
   * did not stop (a daemon with live-restore off stopped them), and those that exited while no daemon ran.
   */
  async startPolicyContainers(): Promise<void> {
    for (const c of this.store.all()) {
      const p = c.hostConfig.RestartPolicy.Name;
      const exitedWhileDown = this.exitedWhileDown.delete(c.id);
      if (this.runs.has(c.id) || c.manuallyStopped) continue;
      if (!exitedWhileDown && p !== "always" && p !== "unless-stopped") continue;
      await this.locks
        .run(c.id, async () => {
          if (exitedWhileDown) c.restartCount++;
          await this.startRun(c);
          if (exitedWhileDown) this.publish(c, "restart");
        })
        .catch((err) => log.warn("starting a container at daemon start failed", { id: c.id, error: String(err) }));
    }
  }

  /**
   * At daemon shutdown, by configuration: live-restore (the default) leaves every container running in the
   * keeper, mounted, in its cgroups and on its networks; `live-restore: false` stops them as docker does (stop
   * signal, timeout, SIGKILL) and ends the keeper; `--ephemeral` removes every container and ends the keeper,
   * so that nothing of this engine is left on the host.
   */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const id of [...this.restartTimers.keys()]) this.cancelRestart(id);
    if (this.deps.config.liveRestore && !this.deps.config.ephemeral) {
      await Promise.all([...this.pendingRemovals]);
      this.deps.keepers.close();
      log.info("containers left running (live-restore)", { running: this.runs.size });
      return;
    }
    await Promise.all(
      [...this.runs.entries()].map(([id, run]) => {
        const c = this.store.get(id);
        if (!c) return run.finished;
        // An ephemeral engine is being thrown away: kill outright, like `rm -f`, instead of waiting out stop timeouts.
        if (this.deps.config.ephemeral) return this.stopRun(c, run, SIGKILL, 0).catch((err) => log.warn("killing a container at shutdown failed", { id, error: String(err) }));
        const timeout = Math.min(c.config.StopTimeout ?? DEFAULT_STOP_TIMEOUT_S, SHUTDOWN_STOP_CAP_S);
        return this.stopRun(c, run, stopSignalOf(c), timeout).catch((err) => log.warn("stopping a container at shutdown failed", { id, error: String(err) }));
      }),
    );
    await Promise.all([...this.pendingRemovals]);
    if (this.deps.config.ephemeral) {
      for (const c of this.store.all()) await this.remove(c.id, true).catch((err) => log.warn("removing a container at shutdown failed", { id: c.id, error: String(err) }));
    }
    await this.deps.keepers.shutdown();
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
