/**
 * Jobs: every piece of work the engine does (create, start, pull, push, build, ...) is a named job with
 * typed arguments, an environment, an output stream, cancellation and an exit status, dispatched through
 * one handler table. Services declare their jobs by augmenting `JobTable`:
 *
 *   declare module "../engine/jobs" { interface JobTable { pull: { args: PullArgs; result: PullResult } } }
 */
// Each service augments this table with its jobs.
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface JobTable {}

export type JobName = keyof JobTable;
type Entry<N extends JobName> = JobTable[N] extends { args: infer A; result: infer R } ? { args: A; result: R } : never;
export type JobArgs<N extends JobName> = Entry<N>["args"];
export type JobResult<N extends JobName> = Entry<N>["result"];

/** Where a job writes its progress: JSON-lines messages for pull/push/build, raw bytes otherwise. */
export interface JobOutput {
  write(data: string | Uint8Array): Promise<void>;
}

export const discardOutput: JobOutput = { write: async () => {} };

export interface JobContext<N extends JobName> {
  readonly id: number;
  readonly name: N;
  readonly args: JobArgs<N>;
  readonly env: Readonly<Record<string, string>>;
  readonly stdout: JobOutput;
  readonly stderr: JobOutput;
  readonly signal: AbortSignal;
}

export type JobHandler<N extends JobName> = (ctx: JobContext<N>) => Promise<JobResult<N>>;

export interface JobOptions {
  env?: Record<string, string>;
  stdout?: JobOutput;
  stderr?: JobOutput;
  signal?: AbortSignal;
}

export type JobStatus = { state: "running" } | { state: "done"; exitStatus: 0 } | { state: "failed"; exitStatus: 1; error: unknown } | { state: "cancelled"; exitStatus: 130 };

export interface JobRecord {
  id: number;
  name: JobName;
  startedAt: number;
  status: JobStatus;
}
