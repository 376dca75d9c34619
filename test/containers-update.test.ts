/**
 * `docker update` through the real docker CLI: new limits reach a running container's cgroup and are enforced,
 * a stopped container starts with them, a new restart policy takes effect, and bad updates are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually } from "./helpers/wait";

let e: ContainerEnv;

beforeAll(async () => {
  e = await startContainerEnv();
}, 120_000);

afterAll(async () => {
  await stopContainerEnv(e);
}, 60_000);

async function inspect(name: string): Promise<{ Id: string; State: { Pid: number }; RestartCount: number; HostConfig: Record<string, unknown> }> {
  return JSON.parse((await e.docker(["inspect", name])).stdout)[0];
}

/** A cgroup control file of the container's main process, on a v1 hierarchy or the v2 tree. */
function controlFile(pid: number, v1Controller: string, v1File: string, v2File: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n");
  const v1 = lines.map((l) => l.split(":")).find(([, controllers]) => controllers?.split(",").includes(v1Controller));
  const path = v1 ? `/sys/fs/cgroup/${v1[1]}${v1[2]}/${v1File}` : `/sys/fs/cgroup${lines.find((l) => l.startsWith("0::"))!.slice(3)}/${v2File}`;
  return readFileSync(path, "utf8").trim();
}

describe("docker update", () => {
  test("memory, cpu and pids limits reach the running container's cgroup and are enforced", async () => {
    expect((await e.docker(["run", "-d", "--name", "upd", "-m", "64m", e.busybox, "sleep", "600"])).exitCode).toBe(0);
    const r = await e.docker(["update", "--memory", "128m", "--memory-swap", "256m", "--cpus", "0.5", "--pids-limit", "5", "upd"]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("upd");

    const c = await inspect("upd");
    expect(c.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(c.HostConfig.MemorySwap).toBe(256 * 1024 * 1024);
    expect(c.HostConfig.NanoCpus).toBe(500_000_000);
    expect(c.HostConfig.PidsLimit).toBe(5);
    expect(controlFile(c.State.Pid, "memory", "memory.limit_in_bytes", "memory.max")).toBe(String(128 * 1024 * 1024));
    const cpu = controlFile(c.State.Pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    expect(cpu.split(" ")[0]).toBe("50000");
    expect(controlFile(c.State.Pid, "pids", "pids.max", "pids.max")).toBe("5");

    // The new pids limit holds inside: sleep (1) + sh (1) + 6 children cannot all exist.
    const forks = await e.docker(["exec", "upd", "sh", "-c", "for i in 1 2 3 4 5 6; do sleep 2 & done; wait"]);
    expect(forks.stderr).toContain("can't fork");
    await e.docker(["rm", "-f", "upd"]);
  }, 60_000);

  test("a stopped container starts with the updated limit", async () => {
    expect((await e.docker(["create", "--name", "later", "-m", "64m", e.busybox, "sleep", "600"])).exitCode).toBe(0);
    expect((await e.docker(["update", "--memory", "96m", "later"])).exitCode).toBe(0);
    expect((await e.docker(["start", "later"])).exitCode).toBe(0);
    const c = await inspect("later");
    expect(controlFile(c.State.Pid, "memory", "memory.limit_in_bytes", "memory.max")).toBe(String(96 * 1024 * 1024));
    await e.docker(["rm", "-f", "later"]);
  }, 60_000);

  test("a restart policy set by update restarts the container when its process dies", async () => {
    expect((await e.docker(["run", "-d", "--name", "phoenix", e.busybox, "sleep", "600"])).exitCode).toBe(0);
    expect((await e.docker(["update", "--restart", "always", "phoenix"])).exitCode).toBe(0);
    const before = await inspect("phoenix");
    expect(before.HostConfig.RestartPolicy).toEqual({ Name: "always", MaximumRetryCount: 0 });
    process.kill(before.State.Pid, "SIGKILL");
    await eventually(async () => {
      const now = await inspect("phoenix");
      return now.RestartCount === 1 && now.State.Pid > 0 && now.State.Pid !== before.State.Pid;
    }, "the container to be restarted");
    await e.docker(["rm", "-f", "phoenix"]);
  }, 60_000);

  test("bad updates are refused with docker's messages and change nothing", async () => {
    expect((await e.docker(["run", "-d", "--name", "steady", "-m", "64m", e.busybox, "sleep", "600"])).exitCode).toBe(0);
    const tiny = await e.docker(["update", "--memory", "4m", "steady"]);
    expect(tiny.exitCode).not.toBe(0);
    expect(tiny.stderr).toContain("Minimum memory limit allowed is 6MB");
    expect((await inspect("steady")).HostConfig.Memory).toBe(64 * 1024 * 1024);

    expect((await e.docker(["run", "-d", "--rm", "--name", "ephemeral", e.busybox, "sleep", "600"])).exitCode).toBe(0);
    const policy = await e.docker(["update", "--restart", "always", "ephemeral"]);
    expect(policy.exitCode).not.toBe(0);
    expect(policy.stderr).toContain("Restart policy cannot be updated because AutoRemove is enabled for the container");

    const missing = await e.docker(["update", "--memory", "64m", "nosuch"]);
    expect(missing.exitCode).not.toBe(0);
    expect(missing.stderr).toContain("No such container: nosuch");

    const garbage = await e.api("/containers/steady/update", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{not json" });
    expect(garbage.status).toBe(400);
    await e.docker(["rm", "-f", "steady", "ephemeral"]);
  }, 60_000);
});
