/**
 * Exit-watcher Worker: blocks in poll(2) on the pidfds of our containers (so the event loop never
 * blocks), reaps each one with waitid(P_PIDFD) and posts its status. It also reaps orphans that were
 * reparented to the daemon (a child subreaper) — see reapOrphans for why that cannot steal Bun.spawn's
 * children. Must be listed as a build entrypoint (see EXIT_WORKER_ENTRYPOINT).
 *
 * Protocol: the first message is { wakeFd, scanIntervalMs }. After that the worker never returns to its
 * event loop; the main thread registers pidfds by writing 8-byte records (i32 pidfd, i32 pid) into the
 * wake pipe; a record with pidfd -1 stops the loop.
 */
import { readdirSync, readFileSync } from "node:fs";
import { POLLIN, P_PIDFD, WEXITED, WNOHANG, poll, readFd, waitid, waitpid } from "../libc/libc";
import type { WatcherMessage } from "./exit-watcher";

declare const self: Worker;

const CLD_EXITED = 1;

function post(message: WatcherMessage): void {
  self.postMessage(message);
}

function exitStatus(code: number, status: number): { exitCode: number; signal: number | null } {
  return code === CLD_EXITED ? { exitCode: status, signal: null } : { exitCode: 128 + status, signal: status };
}

function run(wakeFd: number, scanIntervalMs: number): void {
  const watched = new Map<number, number>(); // pidfd -> pid
  const suspects = new Set<number>();
  const record = new Uint8Array(4096);
  let lastScan = 0;
  for (;;) {
    const fds = Int32Array.from([wakeFd, ...watched.keys()]);
    const revents = new Int16Array(fds.length);
    poll(fds, POLLIN, revents, scanIntervalMs);
    if (revents[0]) {
      const n = readFd(wakeFd, record);
      if (n === 0) return; // the main thread is gone
      const view = new DataView(record.buffer, 0, n - (n % 8));
      for (let at = 0; at < view.byteLength; at += 8) {
        const pidfd = view.getInt32(at, true);
        if (pidfd === -1) return;
        watched.set(pidfd, view.getInt32(at + 4, true));
      }
    }
    for (let i = 1; i < fds.length; i++) {
      if (!revents[i]) continue;
      const pidfd = fds[i]!;
      const pid = watched.get(pidfd)!;
      let info;
      try {
        info = waitid(P_PIDFD, pidfd, WEXITED | WNOHANG);
      } catch (e) {
        watched.delete(pidfd);
        post({ type: "lost", pid, reason: String(e) });
        continue;
      }
      if (info.pid === 0) continue;
      watched.delete(pidfd); // before posting: the main thread closes the pidfd once it hears about it
      post({ type: "exit", pid, ...exitStatus(info.code, info.status) });
    }
    const now = Date.now();
    if (now - lastScan >= scanIntervalMs) {
      lastScan = now;
      reapOrphans(new Set(watched.values()), suspects);
    }
  }
}

/**
 * Orphans: processes reparented to us because we are a subreaper (say, a daemonizing helper started with
 * Bun.spawn, or a process of a --pid=host container whose parent died). waitpid(-1) would also steal the
 * exit status of Bun.spawn's own children, and waitid(P_ALL, WNOWAIT) only ever shows the first zombie.
 * So: list our children (/proc/self/task/* /children), keep the zombies that no pidfd in this process refers
 * to — Bun opens a pidfd for every child it spawns, and so do we — and reap one only when it was such an
 * unowned zombie at two scans in a row (a pidfd is opened right after the spawn, never a scan later).
 */
function reapOrphans(watchedPids: Set<number>, suspects: Set<number>): void {
  const zombies = ourChildren().filter((pid) => !watchedPids.has(pid) && isZombie(pid));
  if (zombies.length === 0) {
    suspects.clear();
    return;
  }
  const owned = pidsWithPidfd();
  const unowned = zombies.filter((pid) => !owned.has(pid));
  for (const pid of unowned) {
    if (!suspects.has(pid)) continue;
    try {
      const [reaped, status] = waitpid(pid, WNOHANG);
      if (reaped === pid) post({ type: "orphan", pid, status });
    } catch {
      // ECHILD: someone else reaped it meanwhile.
    }
  }
  suspects.clear();
  for (const pid of unowned) suspects.add(pid);
}

function ourChildren(): number[] {
  const pids: number[] = [];
  for (const task of readdirSync("/proc/self/task")) {
    try {
      for (const p of readFileSync(`/proc/self/task/${task}/children`, "utf8").split(" ")) if (p) pids.push(Number(p));
    } catch {
      // the thread ended while we listed
    }
  }
  return pids;
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) === "Z";
  } catch {
    return false;
  }
}

function pidsWithPidfd(): Set<number> {
  const pids = new Set<number>();
  for (const fd of readdirSync("/proc/self/fdinfo")) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    const m = /^Pid:\s*(-?\d+)/m.exec(info);
    if (m) pids.add(Number(m[1]));
  }
  return pids;
}

self.onmessage = (event: MessageEvent<{ wakeFd: number; scanIntervalMs: number }>) => {
  run(event.data.wakeFd, event.data.scanIntervalMs);
  post({ type: "stopped" });
};
