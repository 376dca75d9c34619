/**
 * `docker exec`: exec instances created against a running container, started attached (over a hijacked
 * connection) or detached, with their exit code kept for `GET /exec/{id}/json`. The process is the keeper's
 * child, like the container's. Instances live in memory and go away when their container stops (docker
 * forgets them then too) or the daemon restarts.
 */
import type { Keeper, KeeperProcess } from "../../drivers/exec/keeper/client";
import type { ExecSpec } from "../../drivers/exec/spec";
import type { HijackedConnection } from "../api/http/hijack";
import type { CgroupManager } from "../../drivers/exec/cgroups";
import { ConflictError, InvalidParameterError, NotFoundError } from "../errors";
import { pumpClientInput } from "./io/attach";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "./io/detach-keys";
import { relayOutput } from "./io/output";
import { frame } from "./io/stdcopy";
import { StdinPipe } from "./io/stdin";
import { processEnv, rlimitsOf } from "./run-spec";
import { processSecurity } from "./security";
import type { ContainerService } from "./service";
import type { ContainerRecord } from "./types";
import { resolveUser } from "./user";

/** The body of `POST /containers/{id}/exec`. */
export interface ExecCreateRequest {
  User?: string;
  Privileged?: boolean;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  DetachKeys?: string;
  Env?: string[] | null;
  WorkingDir?: string;
  Cmd?: string[] | null;
  ConsoleSize?: [number, number] | null;
}

interface ExecInstance {
  id: string;
  containerId: string;
  request: ExecCreateRequest & { Cmd: string[] };
  detachKeys: Uint8Array;
  started: boolean;
  running: boolean;
  exitCode: number | null;
  pid: number;
  tty: boolean;
}

export class ExecService {
  private readonly instances = new Map<string, ExecInstance>();

  constructor(
    private readonly containers: ContainerService,
    private readonly cgroups: CgroupManager,
  ) {
    containers.onRunEnd((containerId) => {
      for (const e of this.instances.values()) if (e.containerId === containerId && !e.running) this.instances.delete(e.id);
    });
  }

  idsOf(containerId: string): string[] {
    return [...this.instances.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  create(containerRef: string, req: ExecCreateRequest): { Id: string } {
    const c = this.containers.get(containerRef);
    if (!this.containers.activeRun(c.id)) throw new ConflictError(`Container ${c.id} is not running`);
    if (c.state.Paused) throw new ConflictError(`Container ${c.id} is paused, unpause the container before exec`);
    if (!req.Cmd || req.Cmd.length === 0) throw new InvalidParameterError("No exec command specified");
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
    const instance: ExecInstance = {
      id,
      containerId: c.id,
      request: { ...req, Cmd: req.Cmd },
      detachKeys: parseDetachKeys(req.DetachKeys || DEFAULT_DETACH_KEYS),
      started: false,
      running: false,
      exitCode: null,
      pid: 0,
      tty: false,
    };
    this.instances.set(id, instance);
    this.containers.publish(c, `exec_create: ${req.Cmd.join(" ")}`, { execID: id });
    return { Id: id };
  }

  get(id: string): ExecInstance {
    const e = this.instances.get(id);
    if (!e) throw new NotFoundError(`No such exec instance: ${id}`);
    return e;
  }

  /** Fails (before any hijack) when the instance cannot be started. */
  checkStartable(id: string): ExecInstance {
    const e = this.get(id);
    if (e.started) throw new ConflictError(`Error: Exec command ${id} is already running`);
    const c = this.containers.get(e.containerId);
    if (!this.containers.activeRun(c.id)) throw new ConflictError(`Container ${c.id} is not running`);
    return e;
  }

  /**
   * Start the process. With a connection its stdio is served until it exits (and the exit code is recorded
   * before the connection closes, so the client's inspect right after sees it); without one it runs detached.
   */
  async start(id: string, opts: { tty?: boolean; consoleSize?: [number, number] | null }, conn: HijackedConnection | null): Promise<void> {
    const e = this.checkStartable(id);
    e.started = true;
    const tty = opts.tty ?? e.request.Tty ?? false;
    e.tty = tty;
    const c = this.containers.get(e.containerId);
    const keeper = this.containers.activeRun(c.id)!.keeper;
    let proc: KeeperProcess;
    try {
      const spec = this.spec(e, tty, opts.consoleSize ?? e.request.ConsoleSize ?? null, conn !== null);
      // Attached: the output from the first byte, the process held back while the client is slow.
      proc = await keeper.exec(c.id, spec, conn ? { id, attach: "lossless" } : { id });
    } catch (err) {
      e.exitCode = (err as { exitCode?: number }).exitCode ?? 126;
      if (!conn) throw err;
      const message = `OCI runtime exec failed: ${(err as Error).message}\r\n`;
      await conn.write(tty ? message : frame("stderr", Buffer.from(message)));
      await conn.end();
      return;
    }
    e.running = true;
    e.pid = proc.pid;
    const label = e.request.Cmd.join(" ");
    this.containers.publish(c, `exec_start: ${label}`, { execID: id });
    const output = conn ? this.serve(proc, e, keeper, conn) : Promise.resolve();
    void proc.exited
      .then(async (status) => {
        await output;
        e.exitCode = status.exitCode;
        return status.exitCode;
      })
      .catch(() => (e.exitCode = 137))
      .then(async (code) => {
        e.running = false;
        this.containers.publish(c, "exec_die", { execID: id, exitCode: String(code) });
        if (!this.containers.activeRun(e.containerId)) this.instances.delete(id);
        await conn?.end();
      });
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const e = this.get(id);
    if (!e.running || !e.tty || height <= 0 || width <= 0) return;
    const run = this.containers.activeRun(e.containerId);
    // It may have exited a moment ago: nothing to resize then.
    await run?.keeper.resize(id, height, width).catch(() => {});
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    const [entrypoint = "", ...args] = e.request.Cmd;
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: { tty: e.request.Tty ?? false, entrypoint, arguments: args, privileged: e.request.Privileged ?? false, ...(e.request.User ? { user: e.request.User } : {}) },
      OpenStdin: e.request.AttachStdin ?? false,
      OpenStderr: e.request.AttachStderr ?? false,
      OpenStdout: e.request.AttachStdout ?? false,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.request.DetachKeys ?? "",
      Pid: e.pid,
    };
  }

  /**
   * Run `cmd` in the running container (a healthcheck probe): its exit code and the first `maxOutput` bytes of its
   * output, both streams together. After `timeoutMs` it is killed and `timedOut` set. The keeper reaps it and drops
   * its record once its output has been read to the end, which happens here whatever the size.
   */
  async probe(containerId: string, cmd: string[], timeoutMs: number, maxOutput: number): Promise<{ exitCode: number; output: string; timedOut: boolean }> {
    const run = this.containers.activeRun(containerId);
    if (!run) throw new ConflictError(`Container ${containerId} is not running`);
    const id = `probe-${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`;
    const spec = this.execSpec(this.containers.get(containerId), { Cmd: cmd }, false, null, false);
    const proc = await run.keeper.exec(containerId, spec, { id, attach: "lossless" });
    const chunks: Uint8Array[] = [];
    let kept = 0;
    const output = proc.stdio
      ? relayOutput(proc.stdio, async (_stream, data) => {
          if (kept >= maxOutput) return;
          const piece = data.subarray(0, maxOutput - kept);
          chunks.push(piece);
          kept += piece.length;
        })
      : Promise.resolve();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void proc.kill(9).catch(() => false);
    }, timeoutMs);
    try {
      const status = await proc.exited;
      await output;
      return { exitCode: status.exitCode, output: Buffer.concat(chunks).toString("utf8"), timedOut };
    } finally {
      clearTimeout(timer);
    }
  }

  private spec(e: ExecInstance, tty: boolean, consoleSize: [number, number] | null, attached: boolean): ExecSpec {
    // Detached, nobody could write to stdin: /dev/null.
    return this.execSpec(this.containers.get(e.containerId), e.request, tty, consoleSize, attached && e.request.AttachStdin === true);
  }

  private execSpec(c: ContainerRecord, request: ExecCreateRequest & { Cmd: string[] }, tty: boolean, consoleSize: [number, number] | null, openStdin: boolean): ExecSpec {
    const user = resolveUser(this.containers.rootfs(c.id), request.User || c.config.User, c.hostConfig.GroupAdd ?? []);
    const security = processSecurity(c.hostConfig, request.Privileged === true);
    const spec: ExecSpec = {
      args: request.Cmd,
      env: processEnv({ ...c.config, Tty: tty }, user.home, request.Env ?? []),
      cwd: request.WorkingDir || c.config.WorkingDir || "/",
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      capabilities: security.capabilities,
      noNewPrivileges: security.noNewPrivileges,
      rlimits: rlimitsOf(c.hostConfig.Ulimits),
      tty,
      openStdin,
      cgroupJoin: this.cgroups.selfJoinFiles(c.id),
    };
    if (security.seccomp) spec.seccomp = security.seccomp;
    const [rows = 0, cols = 0] = consoleSize ?? [];
    if (tty && rows > 0 && cols > 0) spec.consoleSize = { rows, cols };
    return spec;
  }

  /** Relay the process's output to the client and the client's input to the process; settles when the output has ended. */
  private serve(proc: KeeperProcess, e: ExecInstance, keeper: Keeper, conn: HijackedConnection): Promise<void> {
    if (e.request.AttachStdin) {
      const stdin = new StdinPipe();
      void pumpClientInput(conn.input, stdin, e.detachKeys).then((detached) => {
        if (detached) void conn.end();
        else stdin.end();
      });
      void keeper.stdin(e.id).then(
        // A pipe reaches end of file once the keeper's end is closed too; a pty is only no longer written.
        (fd) => stdin.bind(fd, e.tty ? undefined : () => void keeper.closeStdin(e.id).catch(() => {})),
        () => stdin.release(), // it exited already
      );
      const release = () => stdin.release();
      void proc.exited.then(release, release);
    }
    const wants = { stdout: e.request.AttachStdout !== false, stderr: e.request.AttachStderr !== false };
    if (!proc.stdio) return Promise.resolve();
    return relayOutput(proc.stdio, async (stream, data) => {
      if (conn.isClosed || !wants[stream]) return;
      await conn.write(e.tty ? data : frame(stream, data)).catch(() => {});
    });
  }
}
