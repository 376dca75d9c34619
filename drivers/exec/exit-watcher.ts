/**
 * Exit detection without blocking the event loop: one Worker (exit-worker.ts) polls the pidfds of every
 * process we launched and reaps them; this side turns its messages into promises.
 */
import { O, PR_SET_CHILD_SUBREAPER, SYS, close, pipe2, prctl, syscall, writeFd } from "../libc/libc";

export interface ExitStatus {
  /** Docker's exit code: the status, or 128 + the signal number. */
  exitCode: number;
  /** The signal that ended the process, if one did. */
  signal: number | null;
}

export type WatcherMessage =
  | ({ type: "exit"; pid: number } & ExitStatus)
  | { type: "orphan"; pid: number; status: number }
  | { type: "lost"; pid: number; reason: string }
  | { type: "stopped" };

/**
 * The Worker file, relative to the project root; build.ts must list it as an extra entrypoint of
 * `bun build --compile`. In the binary a Worker is found by that path relative to the common root of the
 * entrypoints (the project root), not relative to this module, which is bundled into the main file.
 */
export const EXIT_WORKER_ENTRYPOINT = "drivers/exec/exit-worker.ts";

function workerSpecifier(): string | URL {
  const compiled = import.meta.url.startsWith("file:///$bunfs/");
  return compiled ? `./${EXIT_WORKER_ENTRYPOINT}` : new URL("./exit-worker.ts", import.meta.url);
}

interface Watched {
  pidfd: number;
  resolve(status: ExitStatus): void;
  reject(error: Error): void;
}

export class ExitWatcher {
  private readonly worker: Worker;
  private readonly wakeRead: number;
  private readonly wakeWrite: number;
  private readonly watched = new Map<number, Watched>();
  private stopping: Promise<void> | undefined;
  private resolveStopped: (() => void) | undefined;
  /** Called for every orphan the worker reaped (raw wait status). */
  onOrphan: ((pid: number, status: number) => void) | undefined;

  constructor(scanIntervalMs = 1000) {
    [this.wakeRead, this.wakeWrite] = pipe2(O.CLOEXEC);
    this.worker = new Worker(workerSpecifier());
    this.worker.onmessage = (event: MessageEvent<WatcherMessage>) => this.handle(event.data);
    this.worker.onerror = (event) => this.failAll(new Error(`exit watcher failed: ${event.message}`));
    this.worker.postMessage({ wakeFd: this.wakeRead, scanIntervalMs });
    this.worker.unref();
  }

  /** Watch a process we launched; takes ownership of `pidfd` (closed once the process is reaped). */
  watch(pid: number, pidfd: number): Promise<ExitStatus> {
    if (this.stopping) throw new Error("exit watcher is stopped");
    const exited = new Promise<ExitStatus>((resolve, reject) => this.watched.set(pid, { pidfd, resolve, reject }));
    try {
      writeFd(this.wakeWrite, new Uint8Array(Int32Array.of(pidfd, pid).buffer));
    } catch (e) {
      this.watched.delete(pid);
      throw e;
    }
    // Keep the process alive while someone may be awaiting an exit; idle, the watcher must not.
    this.worker.ref();
    return exited;
  }

  /**
   * Signal a watched process through its pidfd, which cannot hit a recycled pid. Returns false when the
   * pid is not (or no longer) watched.
   */
  signal(pid: number, signal: number): boolean {
    const w = this.watched.get(pid);
    if (!w) return false;
    try {
      syscall(SYS.pidfd_send_signal, w.pidfd, signal, null, 0);
    } catch (e) {
      if ((e as { code?: string }).code !== "ESRCH") throw e;
    }
    return true;
  }

  /** The pidfd of a watched process (owned by the watcher: do not close), or null. */
  pidfdOf(pid: number): number | null {
    return this.watched.get(pid)?.pidfd ?? null;
  }

  /** Stop the worker; processes still watched are left unreaped and their promises rejected. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      this.resolveStopped = resolve;
      writeFd(this.wakeWrite, new Uint8Array(Int32Array.of(-1, 0).buffer));
    }).then(() => {
      void this.worker.terminate();
      close(this.wakeRead);
      close(this.wakeWrite);
      this.failAll(new Error("exit watcher stopped"));
    });
    return this.stopping;
  }

  private handle(message: WatcherMessage): void {
    switch (message.type) {
      case "exit":
      case "lost": {
        const w = this.watched.get(message.pid);
        if (!w) return;
        this.watched.delete(message.pid);
        if (this.watched.size === 0) this.worker.unref();
        close(w.pidfd);
        if (message.type === "exit") w.resolve({ exitCode: message.exitCode, signal: message.signal });
        else w.reject(new Error(`lost track of process ${message.pid}: ${message.reason}`));
        return;
      }
      case "orphan":
        this.onOrphan?.(message.pid, message.status);
        return;
      case "stopped":
        this.resolveStopped?.();
        return;
    }
  }

  private failAll(error: Error): void {
    for (const [pid, w] of this.watched) {
      this.watched.delete(pid);
      close(w.pidfd);
      w.reject(error);
    }
  }
}

let shared: ExitWatcher | undefined;

/** The process-wide watcher, started on first use. */
export function exitWatcher(): ExitWatcher {
  shared ??= new ExitWatcher();
  return shared;
}

/** Stop the process-wide watcher (tests, daemon shutdown). */
export async function stopExitWatcher(): Promise<void> {
  const w = shared;
  shared = undefined;
  await w?.stop();
}

/**
 * Make this process a child subreaper: orphaned descendants are reparented to us instead of PID 1 (which
 * does not reap on these machines); the exit watcher reaps them.
 */
export function becomeSubreaper(): void {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}
