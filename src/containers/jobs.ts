/** The container and exec operations as engine jobs (the API runs them; nothing changes state otherwise). */
import type { HijackedConnection } from "../api/http/hijack";
import type { Engine } from "../engine/engine";
import type { CreateRequest } from "./create-config";
import type { ExecCreateRequest, ExecService } from "./exec";
import type { CommitRequest, ContainerFiles, ExtractOptions } from "./files";
import type { AttachStreams } from "./io/attach";
import type { ContainerService } from "./service";
import type { ContainerRecord } from "./types";
import type { UpdateRequest } from "./update";
import type { WaitResult } from "./waiters";

export interface AttachJobArgs extends AttachStreams {
  id: string;
  conn: HijackedConnection;
  logs: boolean;
  stream: boolean;
  detachKeys: Uint8Array;
}

export interface ExecStartJobArgs {
  id: string;
  tty?: boolean;
  consoleSize?: [number, number] | null;
  /** null: detached */
  conn: HijackedConnection | null;
}

type Void<A> = { args: A; result: void };

declare module "../engine/jobs" {
  interface JobTable {
    "container.create": { args: { body: CreateRequest; name?: string }; result: { Id: string; Warnings: string[] } };
    "container.start": Void<{ id: string }>;
    "container.stop": Void<{ id: string; timeout?: number; signal?: string }>;
    "container.kill": Void<{ id: string; signal?: string }>;
    "container.restart": Void<{ id: string; timeout?: number; signal?: string }>;
    "container.remove": Void<{ id: string; force: boolean; volumes?: boolean }>;
    "container.rename": Void<{ id: string; name: string }>;
    "container.update": { args: { id: string; body: UpdateRequest }; result: { Warnings: string[] } };
    "container.pause": Void<{ id: string }>;
    "container.unpause": Void<{ id: string }>;
    "container.resize": Void<{ id: string; height: number; width: number }>;
    "container.wait": { args: { id: string; condition: string }; result: WaitResult };
    "container.attach": Void<AttachJobArgs>;
    "container.extract": Void<{ id: string; path: string; body: AsyncIterable<Uint8Array> } & ExtractOptions>;
    "container.commit": { args: CommitRequest; result: { Id: string } };
    "container.prune": { args: { match: (c: ContainerRecord) => boolean }; result: { ContainersDeleted: string[]; SpaceReclaimed: number } };
    "exec.create": { args: { container: string; body: ExecCreateRequest }; result: { Id: string } };
    "exec.start": Void<ExecStartJobArgs>;
    "exec.resize": Void<{ id: string; height: number; width: number }>;
  }
}

export function registerContainerJobs(engine: Engine, containers: ContainerService, execs: ExecService, files: ContainerFiles): void {
  engine.register("container.create", (job) => containers.create(job.args.body, job.args.name));
  engine.register("container.start", (job) => containers.start(job.args.id));
  engine.register("container.stop", (job) => containers.stop(job.args.id, job.args.timeout, job.args.signal));
  engine.register("container.kill", (job) => containers.kill(job.args.id, job.args.signal));
  engine.register("container.restart", (job) => containers.restart(job.args.id, job.args.timeout, job.args.signal));
  engine.register("container.remove", (job) => containers.remove(job.args.id, job.args.force, job.args.volumes));
  engine.register("container.rename", (job) => containers.rename(job.args.id, job.args.name));
  engine.register("container.update", (job) => containers.update(job.args.id, job.args.body));
  engine.register("container.pause", (job) => containers.pause(job.args.id));
  engine.register("container.unpause", (job) => containers.unpause(job.args.id));
  engine.register("container.resize", async (job) => containers.resize(job.args.id, job.args.height, job.args.width));
  engine.register("container.wait", (job) => containers.wait(job.args.id, job.args.condition, job.signal));
  engine.register("container.attach", (job) => containers.attach(job.args.id, job.args.conn, job.args, job.signal));
  engine.register("container.extract", (job) => files.extract(job.args.id, job.args.path, job.args.body, job.args));
  engine.register("container.commit", (job) => files.commit(job.args));
  engine.register("container.prune", (job) => containers.prune(job.args.match));
  engine.register("exec.create", async (job) => execs.create(job.args.container, job.args.body));
  engine.register("exec.start", async (job) => {
    await execs.start(job.args.id, { tty: job.args.tty, consoleSize: job.args.consoleSize }, job.args.conn);
  });
  engine.register("exec.resize", async (job) => execs.resize(job.args.id, job.args.height, job.args.width));
}
