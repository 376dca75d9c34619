/**
 * Cgroup managers. v2 resource writes and stat parsing run against a fake cgroupfs tree (this host has no v2
 * controllers); v2 lifecycle (join/freeze/kill/destroy) runs on the host's real, controller-less cgroup2 mount;
 * v1 runs on the host's real hierarchies with real processes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { Subprocess } from "bun";
import {
  cgroupHostInfo, CgroupError, CgroupV1Manager, CgroupV2Manager, createCgroupManager, detectCgroupLayout,
} from "../drivers/exec/cgroups";
import { parseMountinfo } from "../drivers/exec/cgroups/detect";
import { prctl, PR_SET_CHILD_SUBREAPER, waitpid, WNOHANG } from "../drivers/libc/libc";
import { sharesToWeight, blkioToIoWeight } from "../drivers/exec/cgroups/resources";

const MiB = 1024 * 1024;
const testParent = `bunker-test-${process.pid}`;
const cleanups: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (err) {
      console.error("cleanup:", err);
    }
  }
});

/** Processes this file spawned: Bun reaps these itself. */
const spawned = new Set<number>();

function spawnTracked(cmd: string[], opts: { stdin?: "pipe" } = {}): Subprocess<"pipe", "pipe", "pipe"> {
  const proc = Bun.spawn(cmd, { stdin: opts.stdin ?? "pipe", stdout: "pipe", stderr: "pipe" });
  spawned.add(proc.pid);
  cleanups.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(9);
  });
  return proc;
}

/**
 * Grandchildren orphaned by a cgroup kill are reparented to this process (a subreaper while the v1 tests run;
 * PID 1 here does not reap). Reap them by pid, never with waitpid(-1), which would steal Bun's own children.
 */
async function reapOrphans(pids: number[]): Promise<void> {
  for (const pid of pids.filter((p) => !spawned.has(p))) {
    for (let attempt = 0; attempt < 500; attempt++) {
      try {
        if (waitpid(pid, WNOHANG)[0] === pid) break;
      } catch {
        break; // ECHILD: not (or no longer) ours
      }
      await Bun.sleep(10);
    }
  }
}

function processState(pid: number): string {
  return /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "?";
}

describe("conversions", () => {
  test("cpu shares → cpu.weight and blkio weight → io.weight, as runc maps them", () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
    expect(blkioToIoWeight(10)).toBe(1);
    expect(blkioToIoWeight(500)).toBe(4950);
    expect(blkioToIoWeight(1000)).toBe(10000);
  });
});

describe("detection", () => {
  test("this host is v1 with a controller-less cgroup2 beside it (hybrid)", () => {
    const layout = detectCgroupLayout();
    expect(layout.version).toBe("1");
    expect(layout.mode).toBe("hybrid");
    expect(layout.unifiedMount).toBe("/sys/fs/cgroup/unified");
    for (const controller of ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "blkio", "devices"] as const) {
      expect(layout.v1Mounts[controller]).toBe(`/sys/fs/cgroup/${controller}`);
    }
    const info = cgroupHostInfo(layout);
    expect(info).toMatchObject({ version: "1", driver: "cgroupfs", memoryLimit: true, swapLimit: true, cpuCfsQuota: true, cpuShares: true, cpuSet: true, pidsLimit: true, oomKillDisable: false });
    expect(createCgroupManager({ layout }).version).toBe("1");
  });

  test("mountinfo: co-mounted controllers, escaped paths, cgroup2", () => {
    const mounts = parseMountinfo([
      "30 23 0:26 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs ro,mode=755",
      "33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct",
      "34 30 0:30 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory",
      "35 30 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate",
    ].join("\n"));
    expect(mounts.map((m) => [m.mountpoint, m.fstype])).toEqual([
      ["/sys/fs/cgroup", "tmpfs"], ["/sys/fs/cgroup/cpu,cpuacct", "cgroup"], ["/sys/fs/cgroup/my memory", "cgroup"], ["/sys/fs/cgroup/unified", "cgroup2"],
    ]);
    expect(mounts[1]!.superOptions).toEqual(["rw", "cpu", "cpuacct"]);
  });
});

describe("v2 against a fake cgroupfs tree", () => {
  const root = mkdtempSync(join(tmpdir(), "bunker-cgv2-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, content: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  };
  const read = (path: string) => readFileSync(join(root, path), "utf8");
  const containerFiles: Record<string, string> = {
    "cgroup.procs": "", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0\n", "cgroup.kill": "",
    "memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "memory.current": "0", "memory.stat": "",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n", "cpu.max": "max 100000", "cpu.weight": "100",
    "cpu.stat": "", "cpuset.cpus": "", "cpuset.mems": "", "pids.max": "max", "pids.current": "0", "io.weight": "default 100",
    "io.stat": "",
  };
  write("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
  write("cgroup.subtree_control", "");
  write("bunker/cgroup.controllers", "cpuset cpu io memory pids\n");
  write("bunker/cgroup.subtree_control", "");
  for (const [name, content] of Object.entries(containerFiles)) write(`bunker/c1/${name}`, content);
  const manager = new CgroupV2Manager({ mountpoint: root, parent: "bunker" });

  test("create delegates controllers down the tree and writes the limits", async () => {
    await manager.create("c1", {
      memory: 64 * MiB, memoryReservation: 32 * MiB, nanoCpus: 1.5e9, cpuShares: 512, cpusetCpus: "0", cpusetMems: "0",
      pidsLimit: 8, blkioWeight: 500,
    });
    expect(read("cgroup.subtree_control")).toBe("+cpuset +cpu +io +memory +pids");
    expect(read("bunker/cgroup.subtree_control")).toBe("+cpuset +cpu +io +memory +pids");
    expect(read("bunker/c1/memory.max")).toBe(String(64 * MiB));
    expect(read("bunker/c1/memory.swap.max")).toBe(String(64 * MiB)); // Docker's default: as much swap again
    expect(read("bunker/c1/memory.low")).toBe(String(32 * MiB));
    expect(read("bunker/c1/cpu.max")).toBe("150000 100000");
    expect(read("bunker/c1/cpu.weight")).toBe("20");
    expect(read("bunker/c1/cpuset.cpus")).toBe("0");
    expect(read("bunker/c1/pids.max")).toBe("8");
    expect(read("bunker/c1/io.weight")).toBe("default 4950");
  });

  test("update changes only what it is given, with Docker's swap and quota semantics", async () => {
    await manager.update("c1", { memorySwap: -1 });
    expect(read("bunker/c1/memory.swap.max")).toBe("max");
    expect(read("bunker/c1/memory.max")).toBe(String(64 * MiB));
    await manager.update("c1", { memorySwap: 100 * MiB });
    expect(read("bunker/c1/memory.swap.max")).toBe(String(36 * MiB));
    await manager.update("c1", { cpuQuota: 50000 });
    expect(read("bunker/c1/cpu.max")).toBe("50000 100000");
    await manager.update("c1", { cpuQuota: -1, cpuPeriod: 20000 });
    expect(read("bunker/c1/cpu.max")).toBe("max 20000");
    await manager.update("c1", { pidsLimit: 0 });
    expect(read("bunker/c1/pids.max")).toBe("max");
    expect(read("bunker/c1/cpu.weight")).toBe("20");
    await expect(manager.update("c1", { memory: 64 * MiB, memorySwap: 32 * MiB })).rejects.toThrow("memoryswap limit should be larger");
  });

  test("a missing controller file is an error naming it, never a stray file", async () => {
    rmSync(join(root, "bunker/c1/cpuset.mems"));
    const err = await manager.update("c1", { cpusetMems: "0" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupError);
    expect((err as CgroupError).code).toBe("ENOENT");
    expect((err as Error).message).toContain("cpuset.mems");
    expect(existsSync(join(root, "bunker/c1/cpuset.mems"))).toBe(false);
    write("bunker/c1/cpuset.mems", "");
  });

  test("join writes the pid; a process joins itself through cgroup.procs; names that could escape the parent are refused", () => {
    manager.join("c1", 4242);
    expect(read("bunker/c1/cgroup.procs")).toBe("4242");
    expect(manager.selfJoinFiles("c1")).toEqual([join(root, "bunker/c1/cgroup.procs")]);
    expect(() => manager.join("../c1", 1)).toThrow(CgroupError);
    expect(() => manager.selfJoinFiles("a/b")).toThrow(CgroupError);
  });

  test("stats map v2 files into Docker's shapes", () => {
    write("bunker/c1/memory.current", "1234567\n");
    write("bunker/c1/memory.max", `${64 * MiB}\n`);
    write("bunker/c1/memory.stat", "anon 100\nfile 200\ninactive_file 50\n");
    write("bunker/c1/cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\n");
    write("bunker/c1/pids.current", "3\n");
    write("bunker/c1/pids.max", "8\n");
    write("bunker/c1/io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n");
    const s = manager.stats("c1");
    expect(s.memory_stats).toEqual({ usage: 1234567, limit: 64 * MiB, stats: { anon: 100, file: 200, inactive_file: 50 } });
    expect(s.cpu_stats.cpu_usage).toEqual({ total_usage: 2_000_000, usage_in_kernelmode: 500_000, usage_in_usermode: 1_500_000 });
    expect(s.cpu_stats.throttling_data).toEqual({ periods: 10, throttled_periods: 2, throttled_time: 300_000 });
    expect(s.cpu_stats.system_cpu_usage).toBeGreaterThan(0);
    expect(s.cpu_stats.online_cpus).toBeGreaterThan(0);
    expect(s.pids_stats).toEqual({ current: 3, limit: 8 });
    expect(s.blkio_stats.io_service_bytes_recursive).toEqual([
      { major: 8, minor: 0, op: "read", value: 4096 }, { major: 8, minor: 0, op: "write", value: 8192 },
    ]);
    expect(s.blkio_stats.io_serviced_recursive).toBeNull();
    write("bunker/c1/memory.max", "max\n");
    write("bunker/c1/pids.max", "max\n");
    const unlimited = manager.stats("c1");
    expect(unlimited.memory_stats.limit).toBeGreaterThan(64 * MiB); // the host's memory
    expect(unlimited.pids_stats).toEqual({ current: 3 });
  });

  test("OOM kills are read from memory.events", () => {
    expect(manager.oomKilled("c1")).toBe(false);
    write("bunker/c1/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n");
    expect(manager.oomKilled("c1")).toBe(true);
  });

  test("freeze waits for cgroup.events, SIGKILL goes through cgroup.kill", async () => {
    write("bunker/c1/cgroup.events", "populated 1\nfrozen 1\n");
    await manager.freeze("c1");
    expect(read("bunker/c1/cgroup.freeze")).toBe("1");
    expect(manager.frozen("c1")).toBe(true);
    write("bunker/c1/cgroup.events", "populated 1\nfrozen 0\n");
    await manager.thaw("c1");
    expect(read("bunker/c1/cgroup.freeze")).toBe("0");
    write("bunker/c1/cgroup.procs", "");
    expect(await manager.kill("c1", 9)).toBe(0);
    expect(read("bunker/c1/cgroup.kill")).toBe("");
    write("bunker/c1/cgroup.procs", "4242\n"); // not a real process: cgroup.kill means nothing is signalled from here
    expect(await manager.kill("c1", 9)).toBe(1);
    expect(read("bunker/c1/cgroup.kill")).toBe("1");
  });
});

describe("v2 lifecycle on this host's real cgroup2 mount (no controllers)", () => {
  const mountpoint = detectCgroupLayout().unifiedMount!;
  const manager = new CgroupV2Manager({ mountpoint, parent: testParent });
  cleanups.push(async () => {
    if (manager.pids("life").length) await manager.kill("life", 9).catch(() => undefined);
    await manager.destroy("life").catch(() => undefined);
    if (existsSync(join(mountpoint, testParent))) rmdirSync(join(mountpoint, testParent));
  });

  test("join, list, freeze, kill via cgroup.kill, destroy", async () => {
    await manager.create("life", {});
    const dir = join(mountpoint, testParent, "life");
    expect(existsSync(join(dir, "cgroup.procs"))).toBe(true);
    const proc = spawnTracked(["/bin/busybox", "sleep", "60"]);
    manager.join("life", proc.pid);
    expect(manager.pids("life")).toEqual([proc.pid]);
    expect(readFileSync(`/proc/${proc.pid}/cgroup`, "utf8")).toContain(`0::/${testParent}/life`);
    expect(manager.stats("life").pids_stats.current).toBe(1);

    await manager.freeze("life");
    expect(manager.frozen("life")).toBe(true);
    await manager.thaw("life");
    expect(manager.frozen("life")).toBe(false);

    expect(await manager.kill("life", 9)).toBe(1);
    expect(await proc.exited).toBe(137);
    expect(proc.signalCode).toBe("SIGKILL");
    await manager.destroy("life");
    expect(existsSync(dir)).toBe(false);
  });

  test("a limit whose controller is absent fails and leaves nothing behind", async () => {
    const err = await manager.create("nomem", { memory: 64 * MiB }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupError);
    expect((err as Error).message).toContain("memory.max");
    expect(existsSync(join(mountpoint, testParent, "nomem"))).toBe(false);
  });
});

describe("v1 on this host's real hierarchies", () => {
  const layout = detectCgroupLayout();
  const manager = new CgroupV1Manager({ mounts: layout.v1Mounts, parent: testParent });
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  cleanups.push(async () => {
    for (const id of ["box", "oom", "nest"]) {
      // After a failed test processes may still be inside: kill them through the cgroup, then remove it.
      const left = manager.pids(id);
      if (left.length) await manager.kill(id, 9).catch(() => undefined);
      await reapOrphans(left);
      await manager.destroy(id).catch(() => undefined);
    }
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    for (const mount of new Set(Object.values(layout.v1Mounts))) {
      if (existsSync(join(mount, testParent))) rmdirSync(join(mount, testParent));
    }
  });
  const file = (controller: string, id: string, name: string) => readFileSync(join(`/sys/fs/cgroup/${controller}`, testParent, id, name), "utf8").trim();

  test("limits, stats, freeze/thaw, pids limit, kill, destroy with a real process", async () => {
    await manager.create("box", { memory: 64 * MiB, pidsLimit: 8, nanoCpus: 5e8, cpuShares: 512 });
    expect(file("memory", "box", "memory.limit_in_bytes")).toBe(String(64 * MiB));
    expect(file("memory", "box", "memory.memsw.limit_in_bytes")).toBe(String(128 * MiB));
    expect(file("pids", "box", "pids.max")).toBe("8");
    expect(file("cpu", "box", "cpu.cfs_quota_us")).toBe("50000");
    expect(file("cpu", "box", "cpu.cfs_period_us")).toBe("100000");
    expect(file("cpu", "box", "cpu.shares")).toBe("512");
    expect(file("cpuset", "box", "cpuset.cpus")).toBe(readFileSync("/sys/fs/cgroup/cpuset/cpuset.cpus", "utf8").trim());
    expect(file("devices", "box", "devices.list")).toContain("c 1:3 rwm");
    expect(file("devices", "box", "devices.list")).not.toContain("a *:* rwm");
    expect(manager.selfJoinFiles("box").map((path) => basename(path))).toEqual(Array(8).fill("tasks"));

    // Joined before it does anything (as a container joins itself before its setup); released through stdin.
    const proc = spawnTracked(["/bin/busybox", "sh", "-c",
      "read go; /bin/busybox dd if=/dev/zero of=/dev/null bs=16M count=4 2>/dev/null; " +
      "for i in 1 2 3 4 5 6; do /bin/busybox sleep 60 & done; echo started; exec /bin/busybox sleep 60"], { stdin: "pipe" });
    manager.join("box", proc.pid);
    for (const path of manager.selfJoinFiles("box")) expect(readFileSync(path, "utf8")).toContain(String(proc.pid));
    proc.stdin.write("go\n");
    await proc.stdin.flush();
    expect(new TextDecoder().decode((await proc.stdout.getReader().read()).value)).toContain("started");
    const pids = manager.pids("box");
    expect(pids).toContain(proc.pid);
    expect(pids).toHaveLength(7);

    const stats = manager.stats("box");
    expect(stats.memory_stats.limit).toBe(64 * MiB);
    expect(stats.memory_stats.max_usage).toBeGreaterThanOrEqual(16 * MiB);
    expect(stats.memory_stats.stats).toHaveProperty("total_inactive_file");
    expect(stats.cpu_stats.cpu_usage.total_usage).toBeGreaterThan(0);
    expect(stats.cpu_stats.cpu_usage.percpu_usage!.length).toBeGreaterThanOrEqual(stats.cpu_stats.online_cpus);
    expect(stats.pids_stats).toEqual({ current: 7, limit: 8 });
    expect(manager.oomKilled("box")).toBe(false);

    // An 8th process fits; its own fork would be the 9th.
    const forker = spawnTracked(["/bin/busybox", "sh", "-c", "read go; /bin/busybox true & wait"], { stdin: "pipe" });
    manager.join("box", forker.pid);
    forker.stdin.write("go\n");
    await forker.stdin.flush();
    expect(await forker.exited).not.toBe(0);
    expect(await new Response(forker.stderr).text()).toContain("can't fork");

    await manager.freeze("box");
    expect(manager.frozen("box")).toBe(true);
    expect(processState(proc.pid)).toBe("D");
    await manager.thaw("box");
    expect(manager.frozen("box")).toBe(false);
    // Thawed: runnable or sleeping again, no longer in the freezer's uninterruptible wait.
    expect(["R", "S"]).toContain(processState(proc.pid));

    expect(await manager.kill("box", 9)).toBe(7);
    expect(await proc.exited).toBe(137);
    await reapOrphans(pids);
    await manager.destroy("box");
    for (const path of manager.selfJoinFiles("box")) expect(existsSync(dirname(path))).toBe(false);
  });

  test("the OOM killer's work shows up in oomKilled", async () => {
    await manager.create("oom", { memory: 32 * MiB, memorySwap: 32 * MiB });
    const proc = spawnTracked(["/bin/busybox", "sh", "-c", "read go; exec /bin/busybox dd if=/dev/zero of=/dev/null bs=128M count=1"], { stdin: "pipe" });
    manager.join("oom", proc.pid);
    proc.stdin.write("go\n");
    await proc.stdin.flush();
    expect(await proc.exited).toBe(137);
    expect(manager.oomKilled("oom")).toBe(true);
    await manager.destroy("oom");
  });

  test("destroy removes the sub-cgroups a container made inside its own (deepest first)", async () => {
    await manager.create("nest", {});
    const dirs = manager.selfJoinFiles("nest").map((path) => dirname(path));
    for (const dir of dirs) mkdirSync(join(dir, "inner/deeper"), { recursive: true });
    await manager.destroy("nest");
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });
});
