/**
 * What a container cannot see or do, through the docker CLI against a real daemon: PID namespace, /proc,
 * hostname, mounts, capabilities, masked paths, memory and pids limits, read-only root, sysctls, bind mounts —
 * and a leak check: run/rm cycles leave no mounts, cgroups, processes or fds behind.
 * Run: bun run build.ts && bun test test/containers-isolation.test.ts (as root)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { keeperPids } from "./helpers/daemon";
import { settle } from "./helpers/wait";

let e: ContainerEnv;
let B: string;
let scratch: string;

beforeAll(async () => {
  e = await startContainerEnv();
  B = e.busybox;
  scratch = mkdtempSync(join(tmpdir(), "bunker-isolation-"));
}, 120_000);

afterAll(async () => {
  await stopContainerEnv(e);
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

const run = (args: string[], stdin?: string) => e.docker(["run", "--rm", ...args], stdin);
const hex = (n: bigint) => n.toString(16).padStart(16, "0");
// Docker's 14 default capabilities, by number.
const DEFAULT_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31].reduce((m, n) => m | (1n << BigInt(n)), 0n);

describe("namespaces and filesystem", () => {
  test("the command is PID 1 and /proc shows only the container's processes", async () => {
    // `echo` is a builtin: PID 1 expands the glob itself once the pipeline before it is reaped, so it sees only
    // itself (an `ls | wc` would race: ls may list before sh has forked wc).
    const r = await run([B, "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo /proc/[0-9]*"]);
    expect(r.stdout).toBe("1\nsh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo /proc/[0-9]* \n/proc/1\n");
  });

  test("the hostname is the container's, the host's mounts are invisible", async () => {
    const r = await run(["--hostname", "inside", B, "sh", "-c", "hostname; cut -d' ' -f5 /proc/self/mountinfo"]);
    const [hostname, ...points] = r.stdout.trim().split("\n");
    expect(hostname).toBe("inside");
    expect(points[0]).toBe("/");
    const unexpected = points.filter((p) => !/^\/(proc|dev|sys)(\/|$)/.test(p) && p !== "/" && !["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"].includes(p!));
    expect(unexpected).toEqual([]);
    expect(points).not.toContain(e.daemon.dataRoot);
  });

  test("--pid host, --uts host and --ipc host share the host's namespaces; other modes are refused", async () => {
    const r = await run(["--pid", "host", "--uts", "host", "--ipc", "host", B, "sh", "-c", "hostname; ls -d /proc/[0-9]* | wc -l; readlink /proc/self/ns/ipc"]);
    const [name, count, ipc] = r.stdout.trim().split("\n");
    expect(name).toBe((await import("node:os")).hostname());
    expect(Number(count)).toBeGreaterThan(10);
    expect(ipc).toBe(readlinkSync("/proc/self/ns/ipc"));
    const joined = await run(["--pid", "container:other", B, "true"]);
    expect(joined.exitCode).toBe(125);
    expect(joined.stderr).toContain("not supported yet");
  });

  test("capabilities are docker's default 14, adjusted by --cap-add/--cap-drop", async () => {
    expect((await run([B, "grep", "^CapEff", "/proc/self/status"])).stdout).toBe(`CapEff:\t${hex(DEFAULT_CAPS)}\n`);
    const adjusted = await run(["--cap-add", "NET_ADMIN", "--cap-drop", "chown", B, "grep", "^CapBnd", "/proc/self/status"]);
    expect(adjusted.stdout).toBe(`CapBnd:\t${hex((DEFAULT_CAPS | (1n << 12n)) & ~1n)}\n`);
    const denied = await run(["--cap-drop", "CHOWN", B, "chown", "1000", "/tmp"]);
    expect(denied.exitCode).not.toBe(0);
  });

  test("masked and read-only paths; --privileged lifts them", async () => {
    const r = await run([B, "sh", "-c", "ls -A /proc/acpi | wc -l; wc -c < /proc/keys; echo 1 > /proc/sys/kernel/domainname 2>/dev/null || echo ro; grep -c . /proc/self/status >/dev/null && grep NoNewPrivs /proc/self/status"]);
    expect(r.stdout).toBe("0\n0\nro\nNoNewPrivs:\t0\n");
    const priv = await run(["--privileged", B, "sh", "-c", "grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1"]);
    expect(priv.stdout).toBe("rw\n");
  });

  test("--security-opt no-new-privileges and seccomp", async () => {
    expect((await run(["--security-opt", "no-new-privileges", B, "grep", "NoNewPrivs", "/proc/self/status"])).stdout).toBe("NoNewPrivs:\t1\n");
    expect((await run([B, "grep", "^Seccomp:", "/proc/self/status"])).stdout).toBe("Seccomp:\t2\n");
    expect((await run(["--security-opt", "seccomp=unconfined", B, "grep", "^Seccomp:", "/proc/self/status"])).stdout).toBe("Seccomp:\t0\n");
  });

  test("--read-only refuses writes; --tmpfs and -v bind mounts still work", async () => {
    const r = await run(["--read-only", "--tmpfs", "/scratch", "-v", `${scratch}:/data`, "-v", `${scratch}:/ro:ro`, B, "sh", "-c", "touch /x 2>/dev/null || echo root-ro; echo ok > /scratch/f && cat /scratch/f; echo written > /data/file; touch /ro/y 2>/dev/null || echo bind-ro"]);
    expect(r.stdout).toBe("root-ro\nok\nbind-ro\n");
    expect(readFileSync(join(scratch, "file"), "utf8")).toBe("written\n");
  });

  test("namespaced sysctls are set, others refused", async () => {
    expect((await run(["--sysctl", "net.ipv4.ip_forward=1", B, "cat", "/proc/sys/net/ipv4/ip_forward"])).stdout).toBe("1\n");
    expect((await run(["--sysctl", "kernel.shmmax=1048576", B, "cat", "/proc/sys/kernel/shmmax"])).stdout).toBe("1048576\n");
    expect((await run(["--sysctl", "vm.swappiness=1", B, "true"])).exitCode).toBe(125);
  });

  test("--ulimit and --shm-size", async () => {
    const r = await run(["--ulimit", "nofile=512:1024", "--shm-size", "8m", B, "sh", "-c", "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | awk '{print $2}'"]);
    expect(r.stdout).toBe("512\n1024\n8192\n");
  });
});

describe("resource limits", () => {
  test("-m 64m and a 200 MB allocation: OOM-killed, State.OOMKilled true", async () => {
    const r = await e.docker(["run", "--name", "oom", "-m", "64m", B, "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"]);
    expect(r.exitCode).toBe(137);
    const state = JSON.parse((await e.docker(["inspect", "oom"])).stdout)[0].State;
    expect(state).toMatchObject({ OOMKilled: true, ExitCode: 137, Status: "exited" });
    await e.docker(["rm", "oom"]);
  });

  test("--pids-limit 8 stops a fork bomb", async () => {
    const r = await run(["--pids-limit", "8", B, "sh", "-c", "for i in $(seq 1 20); do sleep 5 & done 2>&1; echo forked; kill $(jobs -p) 2>/dev/null; true"]);
    expect(r.stdout + r.stderr).toContain("can't fork");
  });

  test("limits reach the cgroup", async () => {
    const id = (await e.docker(["run", "-d", "-m", "32m", "--cpus", "0.5", "--pids-limit", "20", B, "sleep", "60"])).stdout.trim();
    const cg = readFileSync(`/proc/${JSON.parse((await e.docker(["inspect", id])).stdout)[0].State.Pid}/cgroup`, "utf8");
    const v1 = cg.includes(":memory:");
    if (v1) {
      const memPath = /:memory:(.*)$/m.exec(cg)![1]!;
      expect(readFileSync(`/sys/fs/cgroup/memory${memPath}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(32 * 1024 * 1024));
      const pidsPath = /:pids:(.*)$/m.exec(cg)![1]!;
      expect(readFileSync(`/sys/fs/cgroup/pids${pidsPath}/pids.max`, "utf8").trim()).toBe("20");
    }
    await e.docker(["rm", "-f", id]);
  });
});

function ourMounts(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(e.daemon.dataRoot));
}

/** cgroup directories (any v1 hierarchy or the v2 tree) still named after one of `ids`. */
function cgroupsOf(ids: string[]): string[] {
  const roots = ["memory", "pids", "cpu", "freezer", "devices", "blkio", "cpuset", "unified", ""].map((c) => `/sys/fs/cgroup/${c}/bunker`.replace("//", "/"));
  return roots.flatMap((root) => ids.filter((id) => existsSync(`${root}/${id}`)).map((id) => `${root}/${id}`));
}

function daemonFds(): number {
  return readdirSync(`/proc/${e.daemon.proc.pid}/fd`).length;
}

function descendants(pid: number): number[] {
  const kids = readdirSync(`/proc/${pid}/task`).flatMap((t) => {
    try {
      return readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

describe("leak check", () => {
  test("200 run/rm cycles leave no mounts, cgroups, processes or fds behind", async () => {
    // Warm up once so lazily opened fds (launcher, exit watcher) are counted in the baseline.
    await run([B, "true"]);
    await run(["-i", B, "cat"], "x");
    const since = Date.now() / 1000;
    const mountsBefore = ourMounts().length;
    const fdsBefore = daemonFds();
    for (let i = 0; i < 200; i++) {
      const r = await run(i % 2 === 0 ? [B, "sh", "-c", "echo $$"] : ["-i", B, "cat"], "in\n");
      expect(r.exitCode).toBe(0);
    }
    const id = (await e.docker(["run", "-d", B, "sleep", "60"])).stdout.trim();
    await e.docker(["rm", "-f", id]);
    const events = await e.docker(["events", "--since", since.toFixed(3), "--until", (Date.now() / 1000 + 1).toFixed(3), "--filter", "event=destroy", "--format", "{{.Actor.ID}}"]);
    const created = events.stdout.split("\n").filter(Boolean);
    expect(created.length).toBe(201);
    expect((await e.docker(["ps", "-aq"])).stdout).toBe("");
    // What the last removal releases may go a moment after it answered: let it settle, then look.
    const keepers = keeperPids(e.daemon.dataRoot);
    await settle(
      () =>
        ourMounts().length === mountsBefore &&
        cgroupsOf(created).length === 0 &&
        descendants(e.daemon.proc.pid).join() === keepers.join() &&
        daemonFds() <= fdsBefore + 2,
    );
    expect(ourMounts().length).toBe(mountsBefore);
    expect(cgroupsOf(created)).toEqual([]);
    // Only the keeper (the daemon's child: the daemon is a subreaper), and no container process under it.
    expect(descendants(e.daemon.proc.pid)).toEqual(keepers);
    expect(daemonFds()).toBeLessThanOrEqual(fdsBefore + 2);
    expect(readdirSync(join(e.daemon.dataRoot, "containers"))).toEqual([]);
  }, 300_000);
});
