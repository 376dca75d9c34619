/**
 * The exec driver on a real busybox rootfs: real namespaces, mounts, ptys and processes.
 * Run: bun test test/exec-driver.test.ts (as root)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { O, close, pipe2 } from "../drivers/libc/libc";
import { ERROR_RECORD_SIZE, ExecutableNotFoundError, ExecutablePermissionError, LaunchError, launchErrorFromRecord } from "../drivers/exec/errors";
import { becomeSubreaper, stopExitWatcher } from "../drivers/exec/exit-watcher";
import { execInContainer, startContainer, type LaunchedProcess } from "../drivers/exec/launcher";
import { loadLauncher, SpawnOut } from "../drivers/exec/native";
import type { ContainerSpec, ExecSpec } from "../drivers/exec/spec";
import { readableFromFd, resizePty, writableToFd } from "../drivers/exec/stdio";
import { encodeContainer } from "../drivers/exec/wire";
import { makeBusyboxRootfs } from "./helpers/busybox-rootfs";
import { eventually, StreamText } from "./helpers/wait";

// Docker's 14 default capabilities, by number (linux/capability.h).
const DOCKER_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31].reduce((m, n) => m | (1n << BigInt(n)), 0n);
const HOST_CAPS = BigInt(`0x${/^CapBnd:\s*(\w+)/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`);

let dir: string;
let rootfs: string;
let hostMountsBefore: string[];
const started: LaunchedProcess[] = [];

function mountPoints(mountinfo: string): string[] {
  return mountinfo.split("\n").filter(Boolean).map((l) => l.split(" ")[4]!);
}

function baseSpec(args: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    rootfs,
    args,
    env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
    cwd: "/",
    hostname: "bunker-test",
    capabilities: { effective: DOCKER_CAPS, permitted: DOCKER_CAPS, inheritable: 0n, bounding: DOCKER_CAPS },
    ...extra,
  };
}

async function collect(p: LaunchedProcess): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const [stdout, stderr] = await Promise.all([
    p.stdio.stdout === null ? "" : new Response(readableFromFd(p.stdio.stdout)).text(),
    p.stdio.stderr === null ? "" : new Response(readableFromFd(p.stdio.stderr)).text(),
  ]);
  return { stdout, stderr, exitCode: (await p.exited).exitCode };
}

async function run(args: string[], extra: Partial<ContainerSpec> = {}) {
  const p = await startContainer(baseSpec(args, extra));
  started.push(p);
  return collect(p);
}

function zombieChildren(): number[] {
  const pids = readdirSync("/proc/self/task").flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, "utf8").split(" ").filter(Boolean));
  return pids.map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.charAt(stat.lastIndexOf(")") + 2) === "Z";
    } catch {
      return false;
    }
  });
}

/** The kinds of fd the launcher hands out: pipes, pidfds, sockets, pty masters. */
function launcherKindFds(): string[] {
  return readdirSync("/proc/self/fd")
    .flatMap((fd) => {
      try {
        return [`${fd} ${readlinkSync(`/proc/self/fd/${fd}`)}`];
      } catch {
        return [];
      }
    })
    .filter((l) => /pipe:|pidfd|socket:|ptmx/.test(l))
    .sort();
}

function statusField(pid: number | "self", field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
}

/** Wait until the released process has become `command` (exec'd): what it holds before that is the launcher's. */
async function execed(pid: number, command: string): Promise<void> {
  await eventually(() => readFileSync(`/proc/${pid}/comm`, "utf8") === `${command}\n`, `process ${pid} to exec ${command}`);
}

beforeAll(() => {
  hostMountsBefore = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  dir = mkdtempSync(join(tmpdir(), "bunker-exec-"));
  rootfs = makeBusyboxRootfs(join(dir, "rootfs"));
  becomeSubreaper();
});

afterAll(async () => {
  for (const p of started) p.kill(9);
  await Promise.allSettled(started.map((p) => p.exited));
  await stopExitWatcher();
  rmSync(dir, { recursive: true, force: true });
});

describe("startContainer", () => {
  test("stdout and stderr arrive separately and the exit code propagates", async () => {
    const r = await run(["sh", "-c", "echo to-out; echo to-err >&2; exit 42"]);
    expect(r).toEqual({ stdout: "to-out\n", stderr: "to-err\n", exitCode: 42 });
  });

  test("a signal death is reported as 128 + signal", async () => {
    // PID 1 of a namespace only gets signals it handles (SIGKILL aside), like in docker.
    const p = await startContainer(baseSpec(["sh", "-c", "trap 'exit 5' TERM; echo ready; while :; do sleep 0.05; done"]));
    started.push(p);
    const stdout = readableFromFd(p.stdio.stdout!).getReader();
    expect(new TextDecoder().decode((await stdout.read()).value)).toBe("ready\n");
    expect(p.kill(15)).toBe(true);
    expect(await p.exited).toEqual({ exitCode: 5, signal: null });
    await stdout.cancel();
    await new Response(readableFromFd(p.stdio.stderr!)).text();
    const q = await startContainer(baseSpec(["sleep", "30"]));
    started.push(q);
    const done = collect(q);
    expect(q.kill(9)).toBe(true);
    expect(await q.exited).toEqual({ exitCode: 137, signal: 9 });
    expect(q.kill(9)).toBe(false);
    await done;
  });

  test("the process is PID 1 and /proc shows only the container's processes", async () => {
    // `echo` is a builtin: the glob is expanded by PID 1 itself, when it is the only process.
    const r = await run(["sh", "-c", "echo $$; cat /proc/1/comm; echo /proc/[0-9]*"]);
    expect(r.stdout).toBe("1\nsh\n/proc/1\n");
  });

  test("hostname is set in a private UTS namespace", async () => {
    expect((await run(["hostname"], { hostname: "ctr-one" })).stdout).toBe("ctr-one\n");
    expect(readFileSync("/proc/sys/kernel/hostname", "utf8")).not.toBe("ctr-one\n");
  });

  test("host mounts are invisible; the container has its own /proc, /dev, /sys", async () => {
    const r = await run(["cat", "/proc/self/mountinfo"]);
    const points = mountPoints(r.stdout);
    expect(points[0]).toBe("/");
    for (const p of ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"]) expect(points).toContain(p);
    expect(points.filter((p) => !/^\/(proc|dev|sys)(\/|$)|^\/$/.test(p))).toEqual([]);
    expect(points).not.toContain("/sys/fs/cgroup");
    const lines = r.stdout.split("\n");
    // The rootfs directory shows only as the source of the "/" bind mount.
    expect(lines.filter((l) => l.includes(dir)).map((l) => l.split(" ")[4])).toEqual(["/"]);
    expect(lines.find((l) => l.split(" ")[4] === "/proc")).toContain("nosuid,nodev,noexec");
    expect(lines.find((l) => l.split(" ")[4] === "/sys")).toMatch(/ ro,nosuid,nodev,noexec/);
  });

  test("/dev holds the standard nodes and links", async () => {
    const r = await run(["sh", "-c", "ls -l /dev | awk '{print $1, $NF}'; stat -c '%t:%T' /dev/null /dev/zero /dev/urandom"]);
    for (const l of ["crw-rw-rw- null", "crw-rw-rw- zero", "crw-rw-rw- full", "crw-rw-rw- random", "crw-rw-rw- urandom", "crw-rw-rw- tty"])
      expect(r.stdout).toContain(l);
    for (const l of ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2", "pts/ptmx"]) expect(r.stdout).toContain(` ${l}\n`);
    expect(r.stdout).toContain("1:3\n1:5\n1:9\n");
  });

  test("env, cwd (created when missing) and user", async () => {
    const r = await run(["sh", "-c", 'echo "$GREETING"; pwd; id -u; id -g; id -G'], {
      env: ["PATH=/bin", "GREETING=hello there"],
      cwd: "/work/dir",
      user: { uid: 65534, gid: 65534, additionalGids: [5, 10] },
    });
    expect(r).toEqual({ stdout: "hello there\n/work/dir\n65534\n65534\n65534 5 10\n", stderr: "", exitCode: 0 });
  });

  test("root without a user keeps no supplementary groups of the daemon", async () => {
    expect((await run(["id", "-G"])).stdout).toBe("0\n");
  });

  test("an unknown command fails like docker: 127 and its message", async () => {
    const err = await startContainer(baseSpec(["no-such-command"])).catch((e) => e);
    expect(err).toBeInstanceOf(ExecutableNotFoundError);
    expect(err.message).toBe('exec: "no-such-command": executable file not found in $PATH');
    expect(err.exitCode).toBe(127);
    const abs = await startContainer(baseSpec(["/bin/nope"])).catch((e) => e);
    expect(abs.message).toBe('exec: "/bin/nope": stat /bin/nope: no such file or directory');
    expect(abs.exitCode).toBe(127);
  });

  test("a file that is not executable fails with 126 permission denied", async () => {
    const err = await startContainer(baseSpec(["/etc/passwd"])).catch((e) => e);
    expect(err).toBeInstanceOf(ExecutablePermissionError);
    expect(err.message).toBe('exec: "/etc/passwd": permission denied');
    expect(err.exitCode).toBe(126);
  });

  test("setup errors name the step", async () => {
    const err = await startContainer(
      baseSpec(["true"], { mounts: [{ type: "bind", source: join(dir, "missing"), destination: "/data" }] }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.step).toBe("mount");
    expect(err.message).toBe("mount /data: No such file or directory");
  });

  test("capabilities are exactly the requested sets; ambient and inheritable are empty", async () => {
    const r = await run(["grep", "^Cap", "/proc/self/status"]);
    const hex = (m: bigint) => m.toString(16).padStart(16, "0");
    expect(r.stdout).toBe(`CapInh:\t${hex(0n)}\nCapPrm:\t${hex(DOCKER_CAPS)}\nCapEff:\t${hex(DOCKER_CAPS)}\nCapBnd:\t${hex(DOCKER_CAPS)}\nCapAmb:\t${hex(0n)}\n`);
    const privileged = await run(["grep", "^CapEff", "/proc/self/status"], {
      capabilities: { effective: ~0n, permitted: ~0n, inheritable: 0n, bounding: ~0n },
    });
    expect(privileged.stdout).toBe(`CapEff:\t${hex(HOST_CAPS)}\n`); // cut to what the daemon holds
  });

  test("a non-root user without ambient caps ends with an empty effective set", async () => {
    const r = await run(["grep", "^CapEff", "/proc/self/status"], { user: { uid: 1000, gid: 1000 } });
    expect(r.stdout).toBe("CapEff:\t0000000000000000\n");
  });

  test("masked paths are masked and read-only paths are read-only", async () => {
    const r = await run([
      "sh",
      "-c",
      "wc -c < /proc/keys; ls -A /proc/acpi | wc -l; ls -A /sys/firmware | wc -l; echo x > /proc/sys/kernel/domainname || echo ro-sys; cat /proc/self/mountinfo",
    ]);
    expect(r.stdout).toStartWith("0\n0\n0\nro-sys\n");
    expect(r.stderr).toContain("Read-only file system");
    const options = new Map(r.stdout.split("\n").slice(4).filter(Boolean).map((l) => [l.split(" ")[4]!, l.split(" ")[5]!]));
    for (const p of ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"]) expect(options.get(p)).toStartWith("ro,");
  });

  test("privileged gets no masks and a writable /sys", async () => {
    const r = await run(["sh", "-c", "grep -c . /proc/keys >/dev/null && echo keys-visible; grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6"], {
      privileged: true,
      capabilities: { effective: HOST_CAPS, permitted: HOST_CAPS, inheritable: 0n, bounding: HOST_CAPS },
    });
    expect(r.stdout).toBe("keys-visible\nrw,nosuid,nodev,noexec,relatime\n");
  });

  test("a read-only root refuses writes; tmpfs and bind mounts still work", async () => {
    const vol = join(dir, "vol");
    mkdirSync(vol, { recursive: true });
    const r = await run(["sh", "-c", "touch /new-file || echo root-ro; echo ok > /scratch/f && cat /scratch/f; echo vol > /data/v; cat /data/v; touch /ro/x || echo bind-ro"], {
      readonlyRootfs: true,
      mounts: [
        { type: "tmpfs", destination: "/scratch", data: "size=1m" },
        { type: "bind", source: vol, destination: "/data" },
        { type: "bind", source: vol, destination: "/ro", readonly: true },
      ],
    });
    expect(r.stdout).toBe("root-ro\nok\nvol\nbind-ro\n");
    expect(readFileSync(join(vol, "v"), "utf8")).toBe("vol\n");
    expect(existsSync(join(rootfs, "new-file"))).toBe(false);
  });

  test("/etc files, sysctls, rlimits and shm size", async () => {
    const hosts = join(dir, "hosts");
    writeFileSync(hosts, "127.0.0.1 localhost\n10.0.0.2 ctr\n");
    const resolv = join(dir, "resolv.conf");
    writeFileSync(resolv, "nameserver 10.0.0.1\n");
    const r = await run(["sh", "-c", "cat /etc/hosts /etc/resolv.conf; cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | awk '{print $2}'"], {
      etcFiles: { hosts, resolvConf: resolv },
      sysctls: { "net.ipv4.ip_forward": "1" },
      rlimits: [{ type: "nofile", soft: 1000, hard: 2000 }],
      shmSize: 8 * 1024 * 1024,
    });
    expect(r.stdout).toBe("127.0.0.1 localhost\n10.0.0.2 ctr\nnameserver 10.0.0.1\n1\n1000\n2000\n8192\n");
    expect(existsSync(join(rootfs, "etc/resolv.conf"))).toBe(true); // the bind target was created
  });

  test("no fd of the daemon leaks: the process holds exactly 0, 1 and 2", async () => {
    const p = await startContainer(baseSpec(["sleep", "30"]));
    started.push(p);
    await execed(p.pid, "sleep");
    expect(readdirSync(`/proc/${p.pid}/fd`).sort()).toEqual(["0", "1", "2"]);
    p.kill(9);
    await collect(p);
  });

  test("signal dispositions and mask are reset (Bun ignores SIGPIPE)", async () => {
    expect(statusField("self", "SigIgn")).not.toBe("0000000000000000");
    const p = await startContainer(baseSpec(["sleep", "30"]));
    started.push(p);
    await execed(p.pid, "sleep");
    expect(statusField(p.pid, "SigIgn")).toBe("0000000000000000");
    expect(statusField(p.pid, "SigBlk")).toBe("0000000000000000");
    p.kill(9);
    await collect(p);
    const r = await run(["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"]);
    expect(r.stdout).toBe("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  });

  test("seccomp filter and no_new_privs", async () => {
    const r = await run(["sh", "-c", "mkdir /tmp/blocked || echo denied; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"], {
      seccomp: denyMkdirProgram(),
      noNewPrivileges: true,
      user: { uid: 1000, gid: 1000 },
    });
    expect(r.stdout).toBe("denied\nNoNewPrivs:\t1\nSeccomp:\t2\n");
    expect(r.stderr).toContain("Operation not permitted");
    // Without no_new_privs the filter is loaded while CAP_SYS_ADMIN is still held.
    const root = await run(["sh", "-c", "mkdir /tmp/blocked2 || echo denied; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status"], {
      seccomp: denyMkdirProgram(),
    });
    expect(root.stdout).toBe("denied\nNoNewPrivs:\t0\nSeccomp:\t2\n");
  });

  test("tty: output comes through the pty master and tty names /dev/pts/0", async () => {
    // The second `stty size` waits for the size to change (up to 30 s), however long the resize takes.
    const script = 'tty; stty size; i=0; while [ "$(stty size)" = "24 80" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; stty size; stat -c %t:%T /dev/console';
    const p = await startContainer(baseSpec(["sh", "-c", script], { tty: true, consoleSize: { rows: 24, cols: 80 } }));
    started.push(p);
    expect(p.stdio.stdout).toBeNull();
    expect(p.stdio.ptyMaster).not.toBeNull();
    const output = new StreamText(readableFromFd(p.stdio.ptyMaster!));
    await output.until(/24 80\r\n/);
    resizePty(p.stdio.ptyMaster!, 30, 100);
    // /dev/console is the pty slave: major 136 (0x88), minor 0.
    expect((await output.rest()).split("\r\n")).toEqual(["/dev/pts/0", "24 80", "30 100", "88:0", ""]);
    expect((await p.exited).exitCode).toBe(0);
  });

  test("tty input: what is written to the master reaches the process", async () => {
    const p = await startContainer(baseSpec(["sh", "-c", "read line; echo got:$line"], { tty: true, openStdin: true }));
    started.push(p);
    const master = p.stdio.ptyMaster!;
    const output = new Response(readableFromFd(master)).text();
    const writer = Bun.file(master).writer();
    await writer.write("hi-tty\n");
    await writer.flush();
    expect(await output).toContain("got:hi-tty");
  });

  test("stdin pipe: cat echoes its input and EOF ends it", async () => {
    const p = await startContainer(baseSpec(["cat"], { openStdin: true }));
    started.push(p);
    const stdin = writableToFd(p.stdio.stdin!).getWriter();
    const result = collect(p);
    await stdin.write(new TextEncoder().encode("line one\n"));
    await stdin.write(new TextEncoder().encode("line two\n"));
    await stdin.close();
    expect(await result).toEqual({ stdout: "line one\nline two\n", stderr: "", exitCode: 0 });
  });

  test("network namespace: private shows only lo; host binds the host's /sys read-only", async () => {
    expect((await run(["ls", "/sys/class/net"])).stdout).toBe("lo\n");
    // Test files running in parallel add and remove links meanwhile: the container sees every link the host had
    // all along, and none the host never had.
    const before = new Set(readdirSync("/sys/class/net"));
    const host = await run(["sh", "-c", "ls /sys/class/net; touch /sys/x || echo sys-ro"], { namespaces: { network: "host" } });
    const after = new Set(readdirSync("/sys/class/net"));
    const seen = host.stdout.split("\n").filter(Boolean);
    expect(seen.pop()).toBe("sys-ro");
    expect([...before].filter((link) => after.has(link) && !seen.includes(link))).toEqual([]);
    expect(seen.filter((link) => !before.has(link) && !after.has(link))).toEqual([]);
  });

  test("beforeRelease runs while the child waits; released, it joins its cgroups (v1 tasks, two hierarchies) before it runs", async () => {
    const groups = ["pids", "memory"].map((controller) => `/sys/fs/cgroup/${controller}/bunker-exec-test-${process.pid}`);
    for (const cg of groups) mkdirSync(cg);
    try {
      let seen = 0;
      const p = await startContainer(baseSpec(["cat", "/proc/self/cgroup"], { cgroupJoin: groups.map((cg) => join(cg, "tasks")) }), {
        beforeRelease(pid) {
          seen = pid;
          expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).not.toContain("bunker-exec-test");
        },
      });
      started.push(p);
      expect(seen).toBe(p.pid);
      const { stdout } = await collect(p);
      expect(stdout).toContain(`pids:/bunker-exec-test-${process.pid}\n`);
      expect(stdout).toContain(`memory:/bunker-exec-test-${process.pid}\n`);
    } finally {
      for (const cg of groups) rmdirSync(cg);
    }
  });

  test("a cgroup it cannot join fails the start at that step, before any setup", async () => {
    const missing = `/sys/fs/cgroup/pids/bunker-exec-test-missing-${process.pid}/tasks`;
    const err = await startContainer(baseSpec(["true"], { cgroupJoin: [missing] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).step).toBe("cgroup");
    expect((err as LaunchError).message).toContain(missing);
  });

  test("a failing hook kills the waiting child and leaves no zombie", async () => {
    let pid = 0;
    const err = await startContainer(baseSpec(["sleep", "30"]), {
      beforeRelease(p) {
        pid = p;
        throw new Error("network setup failed");
      },
    }).catch((e) => e);
    expect(err.message).toBe("network setup failed");
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });
});

describe("execInContainer", () => {
  test("sees the container's pid namespace, hostname, mounts and cgroup", async () => {
    const cg = `/sys/fs/cgroup/pids/bunker-exec-test-x${process.pid}`;
    mkdirSync(cg);
    const ctr = await startContainer(baseSpec(["sleep", "30"], { hostname: "exec-target", cgroupJoin: [join(cg, "tasks")] }));
    started.push(ctr);
    try {
      const execSpec: ExecSpec = {
        args: ["sh", "-c", "hostname; cat /proc/1/comm; echo $$; ls /; pwd; id -u; cat /proc/self/cgroup | grep pids"],
        env: ["PATH=/bin"],
        cwd: "/tmp",
        user: { uid: 65534, gid: 65534 },
        capabilities: { effective: DOCKER_CAPS, permitted: DOCKER_CAPS, inheritable: 0n, bounding: DOCKER_CAPS },
        cgroupJoin: [join(cg, "tasks")],
      };
      const p = await execInContainer(ctr.pid, execSpec);
      started.push(p);
      const r = await collect(p);
      const lines = r.stdout.split("\n");
      expect(lines.slice(0, 2)).toEqual(["exec-target", "sleep"]);
      expect(Number(lines[2])).toBeGreaterThan(1); // a pid inside the container's namespace
      expect(Number(lines[2])).toBeLessThan(100);
      expect(r.stdout).toContain(`${readdirSync(rootfs).sort().join("\n")}\n`);
      expect(r.stdout).toContain("/tmp\n65534\n");
      expect(r.stdout).toContain(`pids:/bunker-exec-test-x${process.pid}\n`);
      expect(r.exitCode).toBe(0);

      const tty = await execInContainer(ctr.pid, { ...execSpec, args: ["tty"], tty: true });
      started.push(tty);
      expect(await new Response(readableFromFd(tty.stdio.ptyMaster!)).text()).toBe("/dev/pts/0\r\n");

      const missing = await execInContainer(ctr.pid, { ...execSpec, args: ["nope"] }).catch((e) => e);
      expect(missing).toBeInstanceOf(ExecutableNotFoundError);

      const sleeper = await execInContainer(ctr.pid, { ...execSpec, args: ["sleep", "30"] });
      started.push(sleeper);
      await execed(sleeper.pid, "sleep");
      expect(readdirSync(`/proc/${sleeper.pid}/fd`).sort()).toEqual(["0", "1", "2"]);
      expect(statusField(sleeper.pid, "SigIgn")).toBe("0000000000000000");
      expect(statusField(sleeper.pid, "CapBnd")).toBe(DOCKER_CAPS.toString(16).padStart(16, "0"));
      sleeper.kill(9);
      expect((await collect(sleeper)).exitCode).toBe(137);
    } finally {
      ctr.kill(9);
      await collect(ctr);
      rmdirSync(cg);
    }
  });

  test("exec into a process that is gone fails with a clear error", async () => {
    const p = await startContainer(baseSpec(["true"]));
    await collect(p);
    const err = await execInContainer(p.pid, { args: ["true"], env: [], cwd: "/", capabilities: { effective: 0n, permitted: 0n, inheritable: 0n, bounding: 0n } }).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.step).toBe("namespace-open");
  });
});

describe("launcher config", () => {
  test("a malformed config is refused without creating a process", () => {
    const blob = encodeContainer(baseSpec(["true"]));
    const out = new Int32Array(SpawnOut.COUNT);
    const error = new Uint8Array(ERROR_RECORD_SIZE);
    for (const bad of [blob.slice(0, blob.length - 8), Uint8Array.from(blob).fill(0xff, 12, 16)]) {
      expect(loadLauncher().spawn(bad, 1000, out, error)).toBe(-1);
      expect(launchErrorFromRecord(error).step).toBe("config");
      expect(out[SpawnOut.PID]).toBe(-1);
    }
  });
});

describe("process hygiene", () => {
  test("200 sequential start/wait cycles leak no fds and no zombies", async () => {
    const cycle = async () => {
      const r = await collect(await startContainer(baseSpec(["true"])));
      if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`);
    };
    await cycle(); // let Bun create its lazily made fds first
    const before = launcherKindFds().length;
    for (let i = 0; i < 200; i++) await cycle();
    // A per-cycle leak would add hundreds; Bun itself may open a pipe pair of its own meanwhile.
    expect(launcherKindFds().length - before).toBeLessThanOrEqual(2);
    expect(zombieChildren()).toEqual([]);
  });

  test("Bun.spawn keeps its exit codes while containers run and orphans are reaped", async () => {
    const ctr = await startContainer(baseSpec(["sleep", "30"]));
    started.push(ctr);
    const codes = await Promise.all(Array.from({ length: 10 }, async (_, i) => Bun.spawn(["sh", "-c", `sleep 0.${i % 3}; exit ${i + 1}`]).exited));
    expect(codes).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // A daemonizing helper: its background child is reparented to us (subreaper) and must not stay a zombie.
    // (It lives long enough to be looked at; then, a zombie of ours, it is reaped within two orphan scans.)
    const helper = Bun.spawn(["sh", "-c", "sleep 1 & echo $!"], { stdout: "pipe" });
    const orphan = Number((await new Response(helper.stdout).text()).trim());
    expect(await helper.exited).toBe(0);
    expect(statusField(orphan, "PPid")).toBe(String(process.pid));
    await eventually(() => !existsSync(`/proc/${orphan}`), "the orphan to be reaped");
    // Still correct after the scanner ran.
    expect(await Bun.spawn(["sh", "-c", "exit 7"]).exited).toBe(7);
    ctr.kill(9);
    expect((await collect(ctr)).exitCode).toBe(137);
  });

  test("the host's mount table is untouched", () => {
    const after = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
    const added = after.filter((l) => !hostMountsBefore.includes(l));
    expect(added.filter((l) => l.includes(dir) || / - (proc|devpts|mqueue|sysfs) /.test(l))).toEqual([]);
  });
});

describe("stdio helpers on Bun 1.4.5", () => {
  test("a pipe reader delivers data and EOF without blocking the event loop or the thread pool", async () => {
    const readers = Array.from({ length: 8 }, () => pipe2(O.CLOEXEC | O.NONBLOCK));
    const texts = readers.map(([r]) => new Response(readableFromFd(r)).text());
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    // A thread-pool job must not wait behind 8 idle readers: it would never finish.
    await fsp.readFile("/etc/hostname");
    // Nor may the event loop block: its timers keep firing.
    await eventually(() => ticks > 5, "the event loop to run timers");
    clearInterval(timer);
    for (const [, w] of readers) {
      await Bun.write(Bun.file(w), "data");
      close(w);
    }
    expect(await Promise.all(texts)).toEqual(Array(8).fill("data"));
    for (const [r] of readers) expect(existsSync(`/proc/self/fd/${r}`)).toBe(false); // closed at EOF
  });

  test("a writer applies backpressure and closing it gives the reader EOF", async () => {
    const [r, w] = pipe2(O.CLOEXEC | O.NONBLOCK);
    const text = new Response(readableFromFd(r)).arrayBuffer();
    const writer = writableToFd(w).getWriter();
    const big = new Uint8Array(1 << 20).fill(65);
    await writer.write(big); // larger than the pipe buffer
    await writer.close();
    expect((await text).byteLength).toBe(1 << 20);
  });
});

/** classic BPF: deny mkdir/mkdirat with EPERM, allow everything else. */
function denyMkdirProgram(): Uint8Array {
  const x64 = process.arch === "x64";
  const arch = x64 ? 0xc000003e : 0xc00000b7;
  const mkdir = x64 ? 83 : 34; // aarch64 has only mkdirat (34)
  const mkdirat = x64 ? 258 : 34;
  const insns: [number, number, number, number][] = [
    [0x20, 0, 0, 4], // ld [arch]
    [0x15, 0, 3, arch], // jeq arch ? next : allow
    [0x20, 0, 0, 0], // ld [nr]
    [0x15, 2, 0, mkdir], // jeq mkdir ? deny
    [0x15, 1, 0, mkdirat], // jeq mkdirat ? deny
    [0x06, 0, 0, 0x7fff0000], // ret ALLOW
    [0x06, 0, 0, 0x00050001], // ret ERRNO(EPERM)
  ];
  const buf = new DataView(new ArrayBuffer(insns.length * 8));
  insns.forEach(([code, jt, jf, k], i) => {
    buf.setUint16(i * 8, code, true);
    buf.setUint8(i * 8 + 2, jt);
    buf.setUint8(i * 8 + 3, jf);
    buf.setUint32(i * 8 + 4, k, true);
  });
  return new Uint8Array(buf.buffer);
}
