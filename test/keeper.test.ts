/**
 * The keeper on a real busybox rootfs: a supervisor forked from C that owns the containers, so they outlive
 * the daemon. The "daemon" is a child Bun process (helpers/keeper-daemon.ts) that this test kills with -9.
 * This test process is a child subreaper, so orphaned keepers become its children and it can reap them.
 * Run: bun test test/keeper.test.ts (as root; about 60 s, half of it the memory-churn test)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { Keeper, KeeperError } from "../drivers/exec/keeper/client";
import { KeeperConnection } from "../drivers/exec/keeper/connection";
import { loadKeeperNative } from "../drivers/exec/keeper/native";
import { LaunchError } from "../drivers/exec/errors";
import { becomeSubreaper } from "../drivers/exec/exit-watcher";
import { encodeContainer } from "../drivers/exec/wire";
import { processExists, waitpid, WNOHANG } from "../drivers/libc/libc";
import { makeBusyboxRootfs } from "./helpers/busybox-rootfs";
import { containerSpec, EXIT7_GO, readUntil } from "./helpers/keeper-daemon";
import { eventually } from "./helpers/wait";

const HELPER = join(import.meta.dir, "helpers/keeper-daemon.ts");

let dir: string;
let rootfs: string;
let state: string;
let logDir: string;
const daemons: Subprocess<"ignore", "pipe", "pipe">[] = [];
/** Every process this test (or its daemons) created: keepers and container processes, for cleanup. */
const keeperPids = new Set<number>();
const containerPids = new Set<number>();

interface Daemon {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  next(): Promise<Record<string, any>>;
}

function spawnDaemon(args: string[]): Daemon {
  const proc = Bun.spawn([process.execPath, HELPER, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  daemons.push(proc);
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  return {
    proc,
    async next() {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`daemon ended: ${await new Response(proc.stderr).text()}`);
        buffered += decoder.decode(value, { stream: true });
      }
      const line = buffered.slice(0, buffered.indexOf("\n"));
      buffered = buffered.slice(line.length + 1);
      const value = JSON.parse(line);
      if (value.error) throw new Error(`daemon failed: ${value.error}`);
      return value;
    },
  };
}

function statusOf(pid: number): { state: string; ppid: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, ppid: Number(fields[1]) };
}

function running(pid: number): boolean {
  try {
    return statusOf(pid).state !== "Z";
  } catch {
    return false;
  }
}

/** The entries of a json-file log; a last line the keeper is still writing is left out. */
function logEntries(path: string): { log: string; stream: string; time: string }[] {
  return readFileSync(path, "utf8").split("\n").slice(0, -1).map((l) => JSON.parse(l));
}

/** smaps_rollup in KiB. */
function memory(pid: number): { rss: number; pss: number; priv: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0);
  return { rss: kib("Rss"), pss: kib("Pss"), priv: kib("Private_Clean") + kib("Private_Dirty") };
}

/** Does `needle` occur in the process's memory? Only mapped, populated, writable regions are read. */
function memoryContains(pid: number, needle: string): boolean {
  const target = Buffer.from(needle);
  const regions: [number, number][] = [];
  let current: [number, number, boolean] | null = null;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (range) current = [parseInt(range[1]!, 16), parseInt(range[2]!, 16), range[3]!.startsWith("rw")];
    else if (current && current[2] && /^Rss:\s+[1-9]/.test(line)) regions.push([current[0], current[1]]);
  }
  const fd = openSync(`/proc/${pid}/mem`, "r");
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (const [start, end] of regions) {
      for (let at = start; at < end; at += chunk.length - target.length) {
        let n = 0;
        try {
          n = readSync(fd, chunk, 0, Math.min(chunk.length, end - at), at);
        } catch {
          break; // a region that went away or cannot be read
        }
        if (chunk.subarray(0, n).includes(target)) return true;
      }
    }
  } finally {
    closeSync(fd);
  }
  return false;
}

/** Reap what became our child (a keeper after shutdown, orphaned containers): we are their subreaper. */
function reap(pids: Iterable<number>): void {
  for (const pid of pids) {
    try {
      waitpid(pid, WNOHANG);
    } catch {
      // not our child, or reaped already
    }
  }
}

beforeAll(() => {
  becomeSubreaper();
  dir = mkdtempSync(join(tmpdir(), "bunker-keeper-"));
  rootfs = makeBusyboxRootfs(join(dir, "rootfs"));
  state = join(dir, "state");
  logDir = join(dir, "logs");
  Bun.spawnSync(["mkdir", "-p", logDir]);
});

afterAll(async () => {
  for (const d of daemons) if (d.exitCode === null) d.kill(9);
  await Promise.allSettled(daemons.map((d) => d.exited));
  for (const stateDir of [state, join(dir, "churn"), join(dir, "old")]) {
    const keeper = await Keeper.connect(join(stateDir, "gen-1")).catch(() => null);
    await keeper?.shutdown().catch(() => {});
  }
  for (const pid of keeperPids) {
    await eventually(() => !running(pid), `keeper ${pid} to exit`, 10_000).catch(() => {
      if (processExists(pid)) process.kill(pid, 9); // it would not shut down: containers are killed below
    });
  }
  for (const pid of containerPids) if (running(pid)) process.kill(pid, 9);
  await Bun.sleep(100);
  reap([...keeperPids, ...containerPids]);
  rmSync(dir, { recursive: true, force: true });
});

describe("keeper", () => {
  let keeperPid = 0;
  let pids: Record<string, number> = {};

  test("containers outlive a kill -9 of the daemon; a new daemon re-adopts them", async () => {
    const first = spawnDaemon(["start", state, rootfs, logDir]);
    const ready = await first.next();
    keeperPid = ready.keeperPid;
    pids = ready.pids;
    keeperPids.add(keeperPid);
    for (const pid of Object.values(pids)) containerPids.add(pid);
    expect(ready.slimmed).toBe(true);
    // Orphaned at birth (double fork): not the daemon's child. Containers are the keeper's.
    expect(statusOf(keeperPid).ppid).not.toBe(first.proc.pid);
    for (const pid of Object.values(pids)) expect(statusOf(pid).ppid).toBe(keeperPid);
    // No daemon fd leaks into a container.
    for (const pid of Object.values(pids)) expect(readdirSync(`/proc/${pid}/fd`).sort()).toEqual(["0", "1", "2"]);

    const tickLog = join(logDir, "tick.log");
    await eventually(() => existsSync(tickLog) && logEntries(tickLog).length > 0, "tick output");
    first.proc.kill(9);
    await first.proc.exited;
    const linesAtKill = logEntries(tickLog).length;

    // While no daemon runs: everything keeps running and logging; exit7 ends (told to, now) and its status is
    // recorded with the time it ended.
    const exitFile = join(state, "gen-1", "exit7.exit");
    expect(existsSync(exitFile)).toBe(false);
    const goAtMs = Date.now();
    writeFileSync(join(rootfs, EXIT7_GO), "");
    await eventually(() => existsSync(exitFile), "exit7's exit file");
    const exitSeenMs = Date.now();
    await eventually(() => logEntries(tickLog).length > linesAtKill + 3, "tick to log while no daemon runs");
    expect(running(keeperPid)).toBe(true);
    for (const id of ["tick", "cat", "tty"]) expect(running(pids[id]!)).toBe(true);
    const [code, rawStatus, finishedNs] = readFileSync(exitFile, "utf8").trim().split(" ");
    expect([code, rawStatus]).toEqual(["7", String(7 << 8)]);
    const exitedAtMs = Number(BigInt(finishedNs!) / 1_000_000n);
    expect(exitedAtMs).toBeGreaterThanOrEqual(goAtMs);
    expect(exitedAtMs).toBeLessThanOrEqual(exitSeenMs);

    const second = spawnDaemon(["adopt", state]);
    const adopted = await second.next();
    expect(await second.proc.exited).toBe(0);
    expect(adopted.hello.pid).toBe(keeperPid);
    const byId = new Map<string, any>(adopted.records.map((r: any) => [r.id, r]));
    for (const id of ["tick", "cat", "tty"]) expect(byId.get(id)).toMatchObject({ state: "running", pid: pids[id], exit: null });
    expect(byId.get("exit7")).toMatchObject({ state: "exited", exit: { exitCode: 7, signal: null }, finishedNs });
    expect(adopted.exit7).toEqual({ exitCode: 7, signal: null });
    expect(adopted.tickLive).toMatch(/tick \d+\n/);
    expect(adopted.catEcho).toContain("after-restart\n");
    expect(logEntries(join(logDir, "cat.log")).map((e) => e.log)).toEqual(["before-crash\n", "after-restart\n"]);
    expect(adopted.ttyAnswer).toContain("got:ping");
    expect(logEntries(join(logDir, "tty.log")).some((e) => e.log === "got:ping\r\n")).toBe(true);
    console.log(`re-adoption of ${adopted.records.length} containers (connect + hello + list): ${adopted.adoptMs.toFixed(2)} ms`);
  }, 60_000);

  test("exec, failed hooks, launch errors, unknown ops, one keeper per directory", async () => {
    const keeper = await Keeper.connectOrStart(state);
    keeperPids.add(keeper.pid);
    try {
      const exec = await keeper.exec("tick", { ...containerSpec(rootfs, ["sh", "-c", "hostname; cat /proc/1/comm"]) }, { id: "exec-1", attach: "lossless" });
      containerPids.add(exec.pid);
      expect(await new Response(Bun.file(exec.stdio!.stdout).stream()).text()).toBe("kept\nsh\n");
      expect(await exec.exited).toEqual({ exitCode: 0, signal: null });

      let hookPid = 0;
      const hookError = await keeper
        .run(containerSpec(rootfs, ["sleep", "30"]), { id: "hook-fails" }, {
          beforeRelease(pid) {
            hookPid = pid;
            throw new Error("network setup failed");
          },
        })
        .catch((e) => e);
      expect(hookError.message).toBe("network setup failed");
      await eventually(() => !existsSync(`/proc/${hookPid}`), "the aborted process to be reaped");
      expect((await keeper.list()).map((r) => r.id)).not.toContain("hook-fails");

      // whileCreating starts with the request; the process is released only once it is done.
      const order: string[] = [];
      const prepared = await keeper.run(containerSpec(rootfs, ["true"]), { id: "while-creating" }, {
        async whileCreating() {
          order.push("sent");
          await Bun.sleep(50);
          order.push("prepared");
        },
        beforeRelease: () => void order.push("before release"),
      });
      containerPids.add(prepared.pid);
      expect(order).toEqual(["sent", "prepared", "before release"]);
      expect(await prepared.exited).toEqual({ exitCode: 0, signal: null });
      const prepError = await keeper
        .run(containerSpec(rootfs, ["sleep", "30"]), { id: "prepare-fails" }, {
          whileCreating: () => Promise.reject(new Error("cgroup setup failed")),
          beforeRelease: () => void order.push("released anyway"),
        })
        .catch((e) => e);
      expect(prepError.message).toBe("cgroup setup failed");
      expect(order).not.toContain("released anyway");
      await eventually(async () => !(await keeper.list()).some((r) => r.id === "prepare-fails"), "the aborted process to be reaped");

      const missing = await keeper.run(containerSpec(rootfs, ["no-such-command"]), { id: "missing" }).catch((e) => e);
      expect(missing).toBeInstanceOf(LaunchError);
      expect(missing.message).toBe('exec: "no-such-command": executable file not found in $PATH');

      const duplicate = await keeper.run(containerSpec(rootfs, ["true"]), { id: "tick" }).catch((e) => e);
      expect(duplicate).toBeInstanceOf(KeeperError);
      expect(duplicate.code).toBe("exists");

      const raw = KeeperConnection.open(join(keeper.dir, "keeper.sock"), keeper.pid);
      const unknown = await raw.request(["frobnicate", "x"]).catch((e) => e);
      raw.close();
      expect(unknown).toBeInstanceOf(KeeperError);
      expect(unknown.code).toBe("unknown-op");

      expect(loadKeeperNative().start(keeper.dir, "second", { slim: true })).toEqual({ started: false, stage: "locked", errno: 11 });
    } finally {
      keeper.close();
    }
  });

  test("json-file logs: docker's format, partial lines, rotation by size and count", async () => {
    const keeper = await Keeper.connectOrStart(state);
    try {
      const logPath = join(logDir, "rotate.log");
      const script = "i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo \"line $i <&> \\\"q\\\"\"; done; printf 'no newline'; echo err >&2";
      const p = await keeper.run(containerSpec(rootfs, ["sh", "-c", script]), { id: "rotate", logPath, logMaxSize: 2000, logMaxFiles: 3 });
      expect(await p.exited).toEqual({ exitCode: 0, signal: null });
      expect(readdirSync(logDir).filter((f) => f.startsWith("rotate.log")).sort()).toEqual(["rotate.log", "rotate.log.1", "rotate.log.2"]);
      for (const f of ["rotate.log", "rotate.log.1", "rotate.log.2"]) expect(statSync(join(logDir, f)).size).toBeLessThanOrEqual(2000);
      const entries = [...logEntries(`${logPath}.2`), ...logEntries(`${logPath}.1`), ...logEntries(logPath)];
      // The unterminated line is written when stdout ends, so it may come after stderr's line.
      const last = entries.slice(-3).map((e) => [e.log, e.stream]);
      expect(last[0]).toEqual(['line 200 <&> "q"\n', "stdout"]);
      expect(last.slice(1)).toContainEqual(["no newline", "stdout"]);
      expect(last.slice(1)).toContainEqual(["err\n", "stderr"]);
      expect(entries.filter((e) => e.stream === "stdout").map((e) => e.log)).toEqual([
        ...Array.from({ length: 200 }, (_, i) => `line ${i + 1} <&> "q"\n`).slice(-entries.filter((e) => e.stream === "stdout").length + 1),
        "no newline",
      ]);
      expect(readFileSync(logPath, "utf8")).toContain('"log":"line 200 \\u003c\\u0026\\u003e \\"q\\"\\n","stream":"stdout","time":"');
      for (const e of entries) {
        expect(e.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
        expect(Math.abs(Date.parse(e.time) - Date.now())).toBeLessThan(60_000);
      }
      await keeper.rm("rotate");
      expect(existsSync(join(keeper.dir, "rotate.exit"))).toBe(false);
    } finally {
      keeper.close();
    }
  });

  test("tty resize; a slow live attacher is dropped, a lossless one holds the container back", async () => {
    const keeper = await Keeper.connectOrStart(state);
    try {
      // It reports its size once it changed (or after 30 s), however long the resize takes to arrive. Until the
      // first resize the pty has no size (0x0), which stty reports as an error.
      const waitForResize = 'i=0; while [ "$(stty size 2>/dev/null)" != "33 111" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; stty size';
      const tty = await keeper.run(containerSpec(rootfs, ["sh", "-c", waitForResize], { tty: true }), { id: "resize", attach: "lossless" });
      await keeper.resize("resize", 33, 111);
      expect(await new Response(Bun.file(tty.stdio!.stdout).stream()).text()).toBe("33 111\r\n");
      await tty.exited;

      const lines = 50_000; // ~290 KB: more than the pipes between the container and the reader hold
      const script = `i=0; while [ $i -lt ${lines} ]; do i=$((i+1)); echo $i; done; echo done`;
      const slow = await keeper.run(containerSpec(rootfs, ["sh", "-c", script]), { id: "lossless", attach: "lossless" });
      await Bun.sleep(300);
      expect(running(slow.pid)).toBe(true); // blocked on its stdout: nobody read
      const all = (await new Response(Bun.file(slow.stdio!.stdout).stream()).text()).split("\n");
      expect(all.length).toBe(lines + 2);
      expect(all.slice(-3)).toEqual([String(lines), "done", ""]);
      expect(await slow.exited).toEqual({ exitCode: 0, signal: null });

      const live = await keeper.run(containerSpec(rootfs, ["sh", "-c", script]), { id: "live", attach: "live" });
      expect(await live.exited).toEqual({ exitCode: 0, signal: null }); // not held back by a reader that does not read
      const partial = await new Response(Bun.file(live.stdio!.stdout).stream()).text();
      expect(partial.length).toBeLessThan(all.join("\n").length); // dropped: end of file before "done"
      expect(partial).not.toContain("done");
      for (const id of ["resize", "lossless", "live"]) await keeper.rm(id);
    } finally {
      keeper.close();
    }
  });

  test("a created process dies with its creator's connection; malformed requests are refused; drain", async () => {
    const keeper = await Keeper.connectOrStart(state);
    const raw = KeeperConnection.open(join(keeper.dir, "keeper.sock"), keeper.pid);
    try {
      const created = await raw.request(["run", "orphan", "", "0", "1", "30000"], encodeContainer(containerSpec(rootfs, ["sleep", "30"])));
      const pid = Number(/^created (\d+)$/.exec(created.text)![1]);
      expect(running(pid)).toBe(true);
      raw.close();
      await eventually(() => !existsSync(`/proc/${pid}`), "the unreleased process to go");
      expect((await keeper.list()).map((r) => r.id)).not.toContain("orphan");

      const fuzz = KeeperConnection.open(join(keeper.dir, "keeper.sock"), keeper.pid);
      const ops = ["run", "exec", "release", "abort", "attach", "stdin", "closestdin", "resize", "kill", "rm", "list", "hello", ""];
      const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
      for (let i = 0; i < 300; i++) {
        const fields = [ops[i % ops.length]!, ...Array.from({ length: i % 6 }, (_, j) => (j % 2 ? String(i * 7919) : `x${i}`))];
        const blob = i % 3 === 0 ? random(i % 97) : i % 3 === 1 ? encodeContainer(containerSpec(rootfs, ["true"])).slice(0, i % 200) : undefined;
        const answer = await fuzz.request(fields, blob).then(
          () => "ok",
          (e) => e.code ?? e.step,
        );
        expect(typeof answer).toBe("string");
      }
      fuzz.close();
      expect((await keeper.hello()).pid).toBe(keeperPid);

      // An older generation after an upgrade: no new containers, and it ends with its last one.
      const old = await Keeper.connectOrStart(join(dir, "old"));
      keeperPids.add(old.pid);
      const last = await old.run(containerSpec(rootfs, ["sleep", "0.2"]), { id: "last" });
      containerPids.add(last.pid);
      await old.drain();
      const refused = await old.run(containerSpec(rootfs, ["true"]), { id: "new" }).catch((e) => e);
      expect(refused.code).toBe("draining");
      await last.exited;
      expect(running(old.pid)).toBe(true);
      await old.rm("last").catch(() => {}); // the keeper may be gone before it answers
      old.close();
      await eventually(() => !running(old.pid), "the drained keeper to exit");
      reap([old.pid]);
    } finally {
      keeper.close();
    }
  });

  test("memory: PSS per container with 20 containers, flat while the daemon churns its heap, no daemon secret", async () => {
    const churnState = join(dir, "churn");
    const daemon = spawnDaemon(["churn", churnState, rootfs, "20", "30"]);
    const ready = await daemon.next();
    keeperPids.add(ready.keeperPid);
    for (const pid of ready.pids) containerPids.add(pid);
    await Bun.sleep(500);
    const before = memory(ready.keeperPid);
    const churned = await daemon.next();
    const after = memory(ready.keeperPid);
    console.log(
      `keeper with 20 containers: RSS ${before.rss} KiB, PSS ${before.pss} KiB = ${(before.pss / 20).toFixed(1)} KiB per container, ` +
        `private ${before.priv} KiB → ${after.priv} KiB after ${churned.rounds} rounds of daemon churn (daemon RSS ${churned.rssMiB} MiB)`,
    );
    expect(before.pss / 20).toBeLessThanOrEqual(64);
    expect(after.priv - before.priv).toBeLessThanOrEqual(16);
    // Last: reading another process's memory faults pages in. The daemon is the positive control.
    expect(memoryContains(daemon.proc.pid, ready.secret)).toBe(true);
    expect(memoryContains(ready.keeperPid, ready.secret)).toBe(false);
    daemon.proc.kill(9);
    await daemon.proc.exited;
    const t0 = performance.now();
    const keeper = await Keeper.connectOrStart(churnState);
    const records = await keeper.list();
    const adoptMs = performance.now() - t0;
    expect(records.filter((r) => r.state === "running").length).toBe(20);
    console.log(`re-adoption of 20 running containers (connect + hello + subscribe + list): ${adoptMs.toFixed(2)} ms`);
    console.log(`keeper with 20 containers and no daemon: ${JSON.stringify(memory(ready.keeperPid))} KiB`);
    await keeper.shutdown();
    await eventually(() => !running(ready.keeperPid), "the churn keeper to exit");
    for (const pid of ready.pids) expect(running(pid)).toBe(false);
  }, 120_000);

  test("shutdown kills what runs, records it, and ends the keeper", async () => {
    const keeper = await Keeper.connectOrStart(state);
    expect(keeper.pid).toBe(keeperPid);
    const exits: string[] = [];
    keeper.onExit((e) => exits.push(`${e.id}:${e.status.exitCode}`));
    await keeper.shutdown();
    await eventually(() => !running(keeperPid), "the keeper to exit");
    for (const id of ["tick", "cat", "tty"]) {
      expect(running(pids[id]!)).toBe(false);
      expect(readFileSync(join(state, "gen-1", `${id}.exit`), "utf8")).toStartWith("137 9 ");
    }
    expect(existsSync(join(state, "gen-1", "keeper.sock"))).toBe(false);
    reap([keeperPid]);
    expect(existsSync(`/proc/${keeperPid}`)).toBe(false);
  });
});
