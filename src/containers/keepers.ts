/**
 * The keepers that hold this data root's containers (drivers/exec/keeper): the current one, where new
 * containers start, and older generations found at start-up that still hold containers of an earlier daemon
 * build. Those are drained: they take no new containers and exit once their last one is removed.
 */
import { readFileSync } from "node:fs";
import { Keeper, listGenerations, readExitFile, type KeeperRecord } from "../../drivers/exec/keeper/client";
import type { ExitStatus } from "../../drivers/exec/exit-watcher";
import { SysError, waitpid, WNOHANG } from "../../drivers/libc/libc";
import { log } from "../util/log";

export interface SurveyedRecord {
  record: KeeperRecord;
  keeper: Keeper;
}

/** How long a keeper may take to kill and reap what it holds after `shutdown` (it gives up after 10 s). */
const SHUTDOWN_WAIT_MS = 12_000;

export class ContainerKeepers {
  /** Containers held by an older generation; every other one is the current keeper's. */
  private readonly older = new Map<string, Keeper>();
  private readonly olderKeepers: Keeper[] = [];

  private constructor(
    readonly stateDir: string,
    private currentKeeper: Keeper,
    private readonly build: string,
  ) {}

  /** Where new containers start. */
  get current(): Keeper {
    return this.currentKeeper;
  }

  /** Connect to the keeper of `stateDir`, or start one (see Keeper.connectOrStart). */
  static async open(stateDir: string, build: string): Promise<ContainerKeepers> {
    const keeper = await Keeper.connectOrStart(stateDir, { build });
    log.info("keeper ready", { pid: keeper.pid, dir: keeper.dir, build: keeper.info.build, running: keeper.info.running });
    return new ContainerKeepers(stateDir, keeper, build);
  }

  /**
   * The keeper a new run of `id` goes to. Should the current keeper have gone away (it crashed: its containers
   * were lost with it), a new one is found or started first.
   */
  async forRun(id: string): Promise<Keeper> {
    const held = this.older.get(id);
    if (held?.connected) return held;
    this.older.delete(id);
    if (!this.currentKeeper.connected) {
      const gone = this.currentKeeper.pid;
      log.error("the keeper went away; starting a new one", { pid: gone });
      await reapWhenEnded(gone, 0);
      this.currentKeeper = await Keeper.connectOrStart(this.stateDir, { build: this.build });
    }
    return this.currentKeeper;
  }

  /**
   * Every container record of every generation that still runs a keeper, by container id; older
   * generations holding containers are kept connected and drained, empty ones are left to themselves.
   */
  async survey(): Promise<Map<string, SurveyedRecord>> {
    const found = new Map<string, SurveyedRecord>();
    for (const { dir } of listGenerations(this.stateDir)) {
      if (dir === this.current.dir) continue;
      const keeper = await Keeper.connect(dir).catch((err: unknown) => {
        log.warn("cannot reach an older keeper", { dir, error: String(err) });
        return null;
      });
      if (!keeper) continue;
      const records = (await keeper.list()).filter((r) => r.kind === "container");
      if (records.length === 0) {
        keeper.close();
        continue;
      }
      await keeper.drain();
      this.olderKeepers.push(keeper);
      for (const record of records) {
        this.older.set(record.id, keeper);
        found.set(record.id, { record, keeper });
      }
      log.info("older keeper generation still holds containers", { dir, pid: keeper.pid, containers: records.length });
    }
    for (const record of await this.current.list()) if (record.kind === "container") found.set(record.id, { record, keeper: this.current });
    return found;
  }

  /** The status a keeper wrote when `id` exited, in any generation (for a record that is gone). */
  exitFile(id: string): { exit: ExitStatus; finishedNs: bigint } | null {
    for (const { dir } of listGenerations(this.stateDir).reverse()) {
      const found = readExitFile(dir, id);
      if (found) return found;
    }
    return null;
  }

  /** The container's record is gone from its keeper (removed): later runs use the current keeper. */
  forget(id: string): void {
    this.older.delete(id);
  }

  /** Close the connections; keepers and containers carry on. */
  close(): void {
    for (const k of [this.current, ...this.olderKeepers]) k.close();
  }

  /** End every keeper (each kills and reaps what it still holds) and reap them when they are our children. */
  async shutdown(): Promise<void> {
    for (const keeper of [this.current, ...this.olderKeepers]) {
      const pid = keeper.pid;
      await keeper.shutdown().catch((err: unknown) => log.warn("keeper shutdown failed", { pid, error: String(err) }));
      if (!(await reapWhenEnded(pid, SHUTDOWN_WAIT_MS))) log.warn("keeper did not exit after shutdown", { pid });
    }
  }
}

/**
 * Wait for `pid` to end and reap it when it is our child (a keeper we started, or a container process
 * reparented to the daemon, a subreaper, when its keeper died); false when it still runs after `timeoutMs`.
 */
export async function reapWhenEnded(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (waitpid(pid, WNOHANG)[0] === pid) return true;
    } catch (err) {
      // ECHILD: not our child (a keeper an earlier daemon started): its parent reaps it.
      if (!(err instanceof SysError) || err.code !== "ECHILD") throw err;
      if (!runningProcess(pid)) return true;
    }
    if (Date.now() > deadline) return false;
    await Bun.sleep(20);
  }
}

function runningProcess(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
