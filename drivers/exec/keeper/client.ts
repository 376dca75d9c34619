/**
 * The daemon's side of the keeper: the supervisor that owns every container process, so containers outlive
 * the daemon (a crash, `kill -9`, an upgrade). See shared/design/keeper.md and native/*.c.
 *
 *   const keeper = await Keeper.connectOrStart("/run/bunker/keeper", { build });
 *   const ctr = await keeper.run(spec, { id, logPath, logMaxSize, logMaxFiles, attach: "lossless" }, {
 *     beforeRelease: (pid) => wireNetwork(pid),   // the process waits; released, it joins its cgroups
 *   });
 *   ctr.exited.then(...); keeper.onExit(...);       // exits arrive as events, no polling
 *
 * After a restart: connectOrStart finds the running keeper, `list()` tells what runs and what exited (with
 * its real status and time), `attach`/`stdin` hand out live fds again, `wait(id)` resolves on exit.
 *
 * Generations: the keeper's code cannot be replaced while it runs, so each state directory holds
 * gen-<n>/ subdirectories, one keeper each. connectOrStart uses the newest generation whose keeper speaks
 * a protocol this client understands, and starts gen-<n+1> otherwise. Older generations keep their
 * containers: connect to them with Keeper.connect(dir) (listGenerations) and `drain()` them, so they exit
 * once their last container is removed.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { close, SysError } from "../../libc/libc";
import { parseMountinfo } from "../cgroups/detect";
import type { ExitStatus } from "../exit-watcher";
import type { LaunchHooks } from "../launcher";
import type { ContainerSpec, ExecSpec } from "../spec";
import { encodeContainer, encodeExec } from "../wire";
import { KeeperConnection, type ExitEvent } from "./connection";
import { CLIENT_MINPROTO, CLIENT_PROTO, keeperSourceDigest, loadKeeperNative, type StartStage } from "./native";
import { KeeperConnectionError, KeeperError, parseHello, parseList, type KeeperHello, type KeeperRecord, type Reply } from "./protocol";

export { KeeperConnectionError, KeeperError, type KeeperHello, type KeeperRecord };
export type { ExitEvent };

export interface KeeperOptions {
  /** The daemon's build (a commit): reported by hello, with a digest of the keeper's C. */
  build?: string;
  /** Unmap the daemon's memory in the keeper at birth (default true; false only to measure why it matters). */
  slim?: boolean;
}

export interface RunOptions {
  /** The container id: [A-Za-z0-9_.-], up to 71 characters (a docker id has 64); names <state>/<id>.exit. */
  id: string;
  /** json-file log written by the keeper; omitted: no log. */
  logPath?: string;
  /** Rotate when the log would grow past this many bytes (0 or omitted: never). */
  logMaxSize?: number;
  /** Files kept when rotating, the current one included (docker's max-file, default 1). */
  logMaxFiles?: number;
  /**
   * Attach before the process runs, so no output is missed: "lossless" makes the container wait for this
   * reader (docker's attached run/exec), "live" drops the reader if it falls behind.
   */
  attach?: "lossless" | "live";
}

export interface ExecOptions {
  /** The exec process's id (unique among the keeper's records). */
  id: string;
  attach?: "lossless" | "live";
}

/** Read ends of fresh pipes carrying live output (non-blocking, CLOEXEC, owned by the caller). */
export interface AttachedOutput {
  /** stdout, or everything a tty prints. */
  stdout: number;
  /** null for a tty. */
  stderr: number | null;
}

export interface KeeperProcess {
  readonly id: string;
  /** In the daemon's pid namespace. */
  readonly pid: number;
  /** Set when RunOptions.attach was given. */
  readonly stdio: AttachedOutput | null;
  /** Settles when the process has exited (its output is logged by then). */
  readonly exited: Promise<ExitStatus>;
  /** Signal it through the keeper's pidfd; false once it has exited. */
  kill(signal?: number): Promise<boolean>;
}

export class KeeperStartError extends Error {
  override name = "KeeperStartError";
  constructor(
    readonly stage: StartStage,
    readonly errno: number,
    dir: string,
  ) {
    super(`cannot start a keeper in ${dir}: ${stage} failed (${new SysError(stage, errno).message.replace(/^\S+ /, "")})`);
  }
}

const DEFAULT_SETUP_TIMEOUT_MS = 30_000;
const LOCKED_RETRY_MS = 5;
const LOCKED_GIVE_UP_MS = 5_000;

interface Waiter {
  promise: Promise<ExitStatus>;
  resolve(status: ExitStatus): void;
  reject(error: Error): void;
}

export class Keeper {
  private readonly waiters = new Map<string, Waiter>();
  private readonly listeners = new Set<(event: ExitEvent) => void>();

  private constructor(
    /** This generation's directory (keeper.sock, keeper.pid, keeper.log, <id>.exit). */
    readonly dir: string,
    private readonly connection: KeeperConnection,
  ) {
    connection.onExit = (event) => this.exitEvent(event);
    connection.onLost = (error) => {
      for (const [id, w] of this.waiters) {
        this.waiters.delete(id);
        w.reject(error);
      }
    };
  }

  /** What the keeper said when this connection was made. */
  get info(): KeeperHello {
    return this.connection.hello;
  }

  get pid(): number {
    return this.connection.hello.pid;
  }

  /** False once this connection was closed or lost (the keeper exited, or dropped us for not reading). */
  get connected(): boolean {
    return this.connection.isOpen;
  }

  /**
   * The keeper of the newest usable generation under `stateDir`: connect when one runs (checking it is
   * root and the pid of keeper.pid), start one otherwise. Also moves it out of the daemon's cgroups (a
   * keeper left in a service's cgroup dies with the service).
   */
  static async connectOrStart(stateDir: string, options: KeeperOptions = {}): Promise<Keeper> {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const generations = listGenerations(stateDir);
    let generation = generations.at(-1)?.generation ?? 1;
    for (;;) {
      const dir = join(stateDir, `gen-${generation}`);
      const keeper = (await Keeper.connect(dir)) ?? (await Keeper.start(dir, options));
      if (compatible(keeper.info)) {
        moveToRootCgroups(keeper.pid);
        return keeper;
      }
      // Too new or too old for us: it keeps its containers, new ones go to a new generation.
      keeper.close();
      generation++;
    }
  }

  /** Connect to the keeper of one generation directory; null when none runs there. */
  static async connect(dir: string): Promise<Keeper | null> {
    const pid = readPidFile(dir);
    if (pid === null) return null;
    let connection: KeeperConnection;
    try {
      connection = KeeperConnection.open(join(dir, "keeper.sock"), pid);
    } catch (e) {
      if (e instanceof SysError && (e.code === "ENOENT" || e.code === "ECONNREFUSED")) return null;
      throw e;
    }
    const keeper = new Keeper(dir, connection);
    await connection.request(["subscribe"]);
    return keeper;
  }

  private static async start(dir: string, options: KeeperOptions): Promise<Keeper> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const build = `${(options.build ?? "dev").replace(/[^\w.+-]/g, "_")}+${keeperSourceDigest()}`;
    const deadline = Date.now() + LOCKED_GIVE_UP_MS;
    for (;;) {
      const result = loadKeeperNative().start(dir, build, { slim: options.slim ?? true });
      if (!result.started && result.stage !== "locked") throw new KeeperStartError(result.stage, result.errno, dir);
      // Started, or another one is starting (it holds the lock and will listen in a moment).
      const keeper = await Keeper.connect(dir);
      if (keeper) return keeper;
      if (Date.now() > deadline) throw new KeeperStartError("locked", 11, dir);
      await Bun.sleep(LOCKED_RETRY_MS);
    }
  }

  async hello(): Promise<KeeperHello> {
    const reply = await this.connection.request(["hello"]);
    for (const fd of reply.fds) close(fd);
    return parseHello(reply.text);
  }

  /** Every record: running containers, exited ones not removed yet (with status and times), exec processes. */
  async list(): Promise<KeeperRecord[]> {
    return parseList((await this.connection.request(["list"])).text);
  }

  /**
   * Create the container as the keeper's child (hooks.whileCreating runs meanwhile), run
   * hooks.beforeRelease(pid) while it waits (network), then let it join its cgroups (spec.cgroupJoin), set up
   * and exec. A failing hook kills it; a failed setup throws the launcher's LaunchError (step, errno).
   */
  async run(spec: ContainerSpec, options: RunOptions, hooks: LaunchHooks = {}): Promise<KeeperProcess> {
    const created = this.connection.request(
      ["run", options.id, options.logPath ?? "", String(options.logMaxSize ?? 0), String(options.logMaxFiles ?? 1), String(spec.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS)],
      encodeContainer(spec),
    );
    return this.release(options.id, created, this.attachBehind(options.id, options.attach), hooks);
  }

  /** `docker exec` in a running container of this keeper (its namespaces; the keeper fills in its pid). */
  async exec(containerId: string, spec: ExecSpec, options: ExecOptions, hooks: LaunchHooks = {}): Promise<KeeperProcess> {
    // The target pid and pidfd are placeholders: the keeper writes its own record's into the blob.
    const created = this.connection.request(
      ["exec", containerId, options.id, String(spec.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS)],
      encodeExec(1, spec, -1),
    );
    return this.release(options.id, created, this.attachBehind(options.id, options.attach), hooks);
  }

  /**
   * Resolves when the process exits; for a process that exited already (while no daemon ran), at once
   * with its recorded status. Rejects with KeeperError not-found for an unknown id.
   */
  async wait(id: string): Promise<ExitStatus> {
    const waiter = this.waiter(id);
    const record = (await this.list()).find((r) => r.id === id);
    if (!record) {
      this.waiters.delete(id);
      waiter.reject(new KeeperError("not-found", id, "wait"));
    } else if (record.exit) {
      this.waiters.delete(id);
      waiter.resolve(record.exit);
    }
    return waiter.promise;
  }

  /** Fresh pipes with the live output from now on (see AttachedOutput). */
  async attach(id: string, mode: "lossless" | "live" = "live"): Promise<AttachedOutput> {
    const { fds } = await this.connection.request(["attach", id, mode === "lossless" ? "lossless" : ""]);
    return { stdout: fds[0]!, stderr: fds[1] ?? null };
  }

  /** A dup of the process's stdin (pipe write end or pty master), owned by the caller. */
  async stdin(id: string): Promise<number> {
    const { fds } = await this.connection.request(["stdin", id]);
    return fds[0]!;
  }

  /** Drop the keeper's end of stdin: the process sees end of file once the caller's dups are closed too. */
  async closeStdin(id: string): Promise<void> {
    await this.connection.request(["closestdin", id]);
  }

  async resize(id: string, rows: number, cols: number): Promise<void> {
    await this.connection.request(["resize", id, String(rows), String(cols)]);
  }

  /** Signal the process; false when it is not running (exited, or never started). */
  async kill(id: string, signal = 9): Promise<boolean> {
    try {
      await this.connection.request(["kill", id, String(signal)]);
      return true;
    } catch (e) {
      if (e instanceof KeeperError && e.code === "not-running") return false;
      throw e;
    }
  }

  /** Forget an exited container (its record and <id>.exit). */
  async rm(id: string): Promise<void> {
    await this.connection.request(["rm", id]);
  }

  /** Every exit, of containers started by any daemon generation of this keeper. Returns an unsubscribe. */
  onExit(listener: (event: ExitEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Take no new containers; exit once the last record is removed (an older generation after an upgrade). */
  async drain(): Promise<void> {
    await this.connection.request(["drain"]);
  }

  /** Kill every process the keeper holds, reap them (exit files written) and end the keeper. */
  async shutdown(): Promise<void> {
    await this.connection.request(["shutdown"]);
    this.close();
  }

  /** Close this connection; the keeper and its containers carry on. */
  close(): void {
    this.connection.close();
  }

  private waiter(id: string): Waiter {
    let w = this.waiters.get(id);
    if (!w) {
      let resolve!: (s: ExitStatus) => void, reject!: (e: Error) => void;
      const promise = new Promise<ExitStatus>((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => {}); // a waiter nobody awaits must not become an unhandled rejection
      w = { promise, resolve, reject };
      this.waiters.set(id, w);
    }
    return w;
  }

  /**
   * The attach request sent right behind a run or exec: the keeper answers it once the process exists, so
   * both take one round trip. Null without `mode`.
   */
  private attachBehind(id: string, mode: RunOptions["attach"]): Promise<AttachedOutput> | null {
    if (!mode) return null;
    const attached = this.attach(id, mode);
    attached.catch(() => {}); // awaited by release, which a failed run leaves early
    return attached;
  }

  /** Called right after the run or exec request went out: whileCreating runs while the keeper works. */
  private async release(id: string, created: Promise<Reply>, attached: Promise<AttachedOutput> | null, hooks: LaunchHooks): Promise<KeeperProcess> {
    const prepared = (async () => hooks.whileCreating?.())();
    prepared.catch(() => {}); // awaited below, once the process exists
    let pid: number;
    try {
      pid = createdPid((await created).text);
    } catch (e) {
      // Nothing was created; an attach that found an older record of the same id hands back pipes to close.
      await prepared.catch(() => {});
      const stale = await attached?.catch(() => null);
      if (stale) closeOutput(stale);
      throw e;
    }
    // Registered before release: the exit event cannot come first.
    const exited = this.waiter(id).promise;
    let stdio: AttachedOutput | null = null;
    const closeStdio = () => {
      if (stdio) closeOutput(stdio);
    };
    try {
      if (attached) stdio = await attached;
      await prepared;
      await hooks.beforeRelease?.(pid);
    } catch (e) {
      closeStdio();
      this.waiters.delete(id);
      await this.connection.request(["abort", id]).catch(() => {});
      throw e;
    }
    try {
      await this.connection.request(["release", id]);
    } catch (e) {
      closeStdio();
      this.waiters.delete(id);
      throw e;
    }
    return { id, pid, stdio, exited, kill: (signal = 9) => this.kill(id, signal) };
  }

  private exitEvent(event: ExitEvent): void {
    const w = this.waiters.get(event.id);
    if (w) {
      this.waiters.delete(event.id);
      w.resolve(event.status);
    }
    for (const listener of this.listeners) listener(event);
  }
}

/** The generation directories (gen-<n>) under a state directory, oldest first. */
export function listGenerations(stateDir: string): { generation: number; dir: string }[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  return names
    .flatMap((name) => {
      const m = /^gen-(\d+)$/.exec(name);
      return m ? [{ generation: Number(m[1]), dir: join(stateDir, name) }] : [];
    })
    .sort((a, b) => a.generation - b.generation);
}

/** What the keeper wrote when a container exited: for a daemon that lost its keeper ("exit code, raw status, ns"). */
export function readExitFile(dir: string, id: string): { exit: ExitStatus; finishedNs: bigint } | null {
  let text: string;
  try {
    text = readFileSync(join(dir, `${id}.exit`), "utf8");
  } catch {
    return null;
  }
  const [code, status, finished] = text.trim().split(" ");
  const raw = Number(status);
  return { exit: { exitCode: Number(code), signal: raw & 0x7f ? raw & 0x7f : null }, finishedNs: BigInt(finished ?? "0") };
}

function compatible(hello: KeeperHello): boolean {
  return hello.minproto <= CLIENT_PROTO && hello.proto >= CLIENT_MINPROTO;
}

function closeOutput(output: AttachedOutput): void {
  for (const fd of [output.stdout, output.stderr]) if (fd !== null) close(fd);
}

function createdPid(text: string): number {
  const m = /^created (\d+)$/.exec(text);
  if (!m) throw new KeeperConnectionError(`unexpected reply: ${JSON.stringify(text)}`);
  return Number(m[1]);
}

function readPidFile(dir: string): number | null {
  try {
    const pid = Number(readFileSync(join(dir, "keeper.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Move the keeper to the root cgroup of every hierarchy (v1 controllers, named v1 hierarchies, the v2
 * mount), out of the daemon's: `systemctl stop` of the daemon's unit must not take the keeper with it.
 * Best effort: a host that refuses leaves it where it is. Skipped when it is in the roots already: a move
 * costs milliseconds even then (cgroup migration waits for RCU), and this runs at every daemon start.
 */
export function moveToRootCgroups(pid: number): void {
  const paths = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").filter(Boolean).map((l) => l.slice(l.indexOf(":", l.indexOf(":") + 1) + 1));
  if (paths.every((p) => p === "/")) return;
  const mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8")).filter((m) => m.fstype === "cgroup" || m.fstype === "cgroup2");
  for (const mountpoint of new Set(mounts.map((m) => m.mountpoint))) {
    try {
      writeFileSync(join(mountpoint, "cgroup.procs"), String(pid));
    } catch {
      // read-only cgroupfs (inside a container), or a v2 root that refuses: keep going
    }
  }
}
