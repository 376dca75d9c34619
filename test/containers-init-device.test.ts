/**
 * `docker run --init` and `docker run --device` through the real docker CLI: docker-init runs as PID 1, forwards
 * signals, reaps zombies and passes the exit code on; device nodes appear in the container and the devices
 * cgroup decides what may be opened.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually } from "./helpers/wait";

let e: ContainerEnv;

/** The devices controller decides about opens only on a cgroup v1 hierarchy (the v2 manager sets no rules). */
const V1_DEVICES = existsSync("/sys/fs/cgroup/devices/devices.allow");

beforeAll(async () => {
  e = await startContainerEnv();
}, 120_000);

afterAll(async () => {
  await stopContainerEnv(e);
}, 60_000);

async function exitCodeOf(name: string): Promise<number> {
  return JSON.parse((await e.docker(["inspect", name])).stdout)[0].State.ExitCode;
}

describe("docker run --init", () => {
  test("docker-init is PID 1 and the command is its child", async () => {
    const r = await e.docker(["run", "--rm", "--init", e.busybox, "ps", "-o", "pid,comm"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = r.stdout.trim().split("\n").slice(1).map((line) => line.trim().split(/\s+/));
    expect(rows).toContainEqual(["1", "docker-init"]);
    const ps = rows.find(([, comm]) => comm === "ps");
    expect(ps?.[0]).not.toBe("1");
  }, 60_000);

  test("docker stop ends the command through init (143); without init PID 1 ignores SIGTERM (137)", async () => {
    expect((await e.docker(["run", "-d", "--init", "--name", "with-init", e.busybox, "sleep", "100"])).exitCode).toBe(0);
    expect((await e.docker(["run", "-d", "--name", "without-init", e.busybox, "sleep", "100"])).exitCode).toBe(0);
    expect((await e.docker(["stop", "-t", "10", "with-init"])).exitCode).toBe(0);
    expect(await exitCodeOf("with-init")).toBe(143);
    expect((await e.docker(["stop", "-t", "2", "without-init"])).exitCode).toBe(0);
    expect(await exitCodeOf("without-init")).toBe(137);
    await e.docker(["rm", "-f", "with-init", "without-init"]);
  }, 60_000);

  test("orphans are reaped: no zombie is left", async () => {
    const r = await e.docker(["run", "--rm", "--init", e.busybox, "sh", "-c", "(sleep 0.1 &) ; sleep 1; ps -o pid,stat,comm"]);
    expect(r.exitCode, r.stderr).toBe(0);
    const states = r.stdout.trim().split("\n").slice(1).map((line) => line.trim().split(/\s+/)[1]);
    expect(states.length).toBeGreaterThan(0);
    expect(states.filter((s) => s?.startsWith("Z"))).toEqual([]);
  }, 60_000);

  test("the command's exit code is the container's", async () => {
    const r = await e.docker(["run", "--rm", "--init", e.busybox, "sh", "-c", "exit 7"]);
    expect(r.exitCode).toBe(7);
  }, 60_000);

  test("a missing command fails with 127", async () => {
    const r = await e.docker(["run", "--rm", "--init", e.busybox, "no-such-command"]);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain("no-such-command");
  }, 60_000);

  test("signals reach the command; inspect shows the command, not docker-init", async () => {
    const script = 'trap "echo got-usr1" USR1; while :; do sleep 0.1; done';
    expect((await e.docker(["run", "-d", "--init", "--name", "trapper", e.busybox, "sh", "-c", script])).exitCode).toBe(0);
    try {
      await eventually(async () => {
        await e.docker(["kill", "-s", "USR1", "trapper"]);
        return (await e.docker(["logs", "trapper"])).stdout.includes("got-usr1");
      }, "USR1 reaches the trap in sh");
      const c = JSON.parse((await e.docker(["inspect", "trapper"])).stdout)[0];
      expect(c.Path).toBe("sh");
      expect(c.Args).toEqual(["-c", script]);
      expect(c.HostConfig.Init).toBe(true);
      // exec is not wrapped: it runs beside init, not under it.
      const ps = await e.docker(["exec", "trapper", "ps", "-o", "pid,comm"]);
      expect(ps.stdout).toMatch(/^\s*1 docker-init$/m);
    } finally {
      await e.docker(["rm", "-f", "trapper"]);
    }
  }, 60_000);
});

describe("docker run --device", () => {
  test("/dev/net/tun appears as the host's node and opens", async () => {
    const r = await e.docker(["run", "--rm", "--device", "/dev/net/tun", e.busybox, "sh", "-c", "ls -l /dev/net/tun; cat /dev/net/tun"]);
    expect(r.stdout).toMatch(/^c\S+\s+\d+\s+\S+\s+\S+\s+10,\s+200\s.*\/dev\/net\/tun$/m);
    // Opened (the cgroup allows it); reading an unattached tun fd is EBADFD.
    expect(r.stderr).toContain("File descriptor in bad state");
    expect(r.stderr).not.toContain("Operation not permitted");
  }, 60_000);

  test("a node can be renamed; r-only permissions refuse opening for writing", async () => {
    const r = await e.docker(["run", "--rm", "--device", "/dev/fuse:/dev/myfuse:r", e.busybox, "sh", "-c",
      "ls -l /dev/myfuse; exec 3</dev/myfuse && echo read-open; exec 4>/dev/myfuse && echo write-open"]);
    expect(r.stdout).toMatch(/^c\S+\s+\d+\s+\S+\s+\S+\s+10,\s+229\s.*\/dev\/myfuse$/m);
    expect(r.stdout).toContain("read-open");
    if (V1_DEVICES) {
      expect(r.stdout).not.toContain("write-open");
      expect(r.stderr).toContain("Operation not permitted");
    }
  }, 60_000);

  test("/dev/null:/dev/mynull:r is readable", async () => {
    // Writing stays allowed: c 1:3 rwm is one of the default rules, and v1 adds permissions up (as with docker).
    const r = await e.docker(["run", "--rm", "--device", "/dev/null:/dev/mynull:r", e.busybox, "sh", "-c", "ls -l /dev/mynull && cat /dev/mynull && echo read-ok"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^c\S+\s+\d+\s+\S+\s+\S+\s+1,\s+3\s.*\/dev\/mynull$/m);
    expect(r.stdout).toContain("read-ok");
  }, 60_000);

  test.skipIf(!V1_DEVICES)("without --device a node can be made (CAP_MKNOD) but not opened", async () => {
    const r = await e.docker(["run", "--rm", e.busybox, "sh", "-c", "mknod /dev/fuse c 10 229 && echo made; exec 3</dev/fuse && echo opened"]);
    expect(r.stdout).toContain("made");
    expect(r.stdout).not.toContain("opened");
    expect(r.stderr).toContain("Operation not permitted");
  }, 60_000);

  test("a missing host path fails docker run with docker's message and creates nothing", async () => {
    const r = await e.docker(["run", "--rm", "--device", "/dev/bunker-no-such-device", e.busybox, "true"]);
    // The daemon refuses the create (400); the docker CLI turns any "no such file or directory" into 127.
    expect(r.exitCode, r.stderr).toBe(127);
    expect(r.stderr).toContain('error gathering device information while adding custom device "/dev/bunker-no-such-device": no such file or directory');
    expect((await e.docker(["ps", "-aq"])).stdout.trim()).toBe("");
  }, 60_000);

  test("a file that is not a device is refused", async () => {
    const r = await e.docker(["run", "--rm", "--device", "/etc/hostname", e.busybox, "true"]);
    expect(r.exitCode, r.stderr).toBe(125);
    expect(r.stderr).toContain('error gathering device information while adding custom device "/etc/hostname": not a device node');
  }, 60_000);
});
