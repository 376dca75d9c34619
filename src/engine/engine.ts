import { log } from "../util/log";
import { EventBus } from "./events";
import { discardOutput, type JobContext, type JobHandler, type JobName, type JobOptions, type JobRecord, type JobResult, type JobArgs } from "./jobs";

/**
 * The Engine owns the job table and the event bus. API handlers never call services directly for work
 * that changes state: they run a job, so every operation is logged, cancellable and visible.
 */
export class Engine {
  readonly events = new EventBus();
  private handlers = new Map<JobName, JobHandler<JobName>>();
  private running = new Map<number, { record: JobRecord; abort: AbortController }>();
  private nextId = 1;
  private shuttingDown = false;

  register<N extends JobName>(name: N, handler: JobHandler<N>): void {
    if (this.handlers.has(name)) throw new Error(`job ${String(name)} registered twice`);
    this.handlers.set(name, handler as unknown as JobHandler<JobName>);
  }

  has(name: JobName): boolean {
    return this.handlers.has(name);
  }

  async run<N extends JobName>(name: N, args: JobArgs<N>, options: JobOptions = {}): Promise<JobResult<N>> {
    const handler = this.handlers.get(name) as unknown as JobHandler<N> | undefined;
    if (!handler) throw new Error(`no handler for job ${String(name)}`);
    if (this.shuttingDown) throw new Error("the daemon is shutting down");
    const abort = new AbortController();
    const onOuterAbort = () => abort.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onOuterAbort, { once: true });
    const id = this.nextId++;
    const record: JobRecord = { id, name, startedAt: Date.now(), status: { state: "running" } };
    this.running.set(id, { record, abort });
    const ctx: JobContext<N> = {
      id,
      name,
      args,
      env: options.env ?? {},
      stdout: options.stdout ?? discardOutput,
      stderr: options.stderr ?? discardOutput,
      signal: abort.signal,
    };
    log.debug("job start", { job: String(name), id });
    try {
      const result = await handler(ctx);
      record.status = { state: "done", exitStatus: 0 };
      log.debug("job done", { job: String(name), id, ms: Date.now() - record.startedAt });
      return result;
    } catch (error) {
      record.status = abort.signal.aborted ? { state: "cancelled", exitStatus: 130 } : { state: "failed", exitStatus: 1, error };
      log.debug("job failed", { job: String(name), id, error: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      options.signal?.removeEventListener("abort", onOuterAbort);
      this.running.delete(id);
    }
  }

  jobs(): JobRecord[] {
    return [...this.running.values()].map((j) => j.record);
  }

  /** Refuse new jobs, cancel the running ones, and wait (bounded) for them to settle. */
  async shutdown(graceMs: number): Promise<void> {
    this.shuttingDown = true;
    for (const j of this.running.values()) j.abort.abort(new Error("daemon shutting down"));
    const deadline = Date.now() + graceMs;
    while (this.running.size > 0 && Date.now() < deadline) await Bun.sleep(20);
  }
}
