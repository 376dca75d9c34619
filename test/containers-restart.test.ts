/**
 * Containers across daemon restarts, beyond the live-restore default (test/live-restore.test.ts): a daemon with
 * live-restore off stops them and ends its keeper, and the next start brings back `--restart always`; when the
 * keeper itself is lost together with the daemon (killed, or the host rebooted), the next daemon kills what was
 * left, unmounts, and records the containers as lost — nothing orphaned, nothing mounted, every state true;
 * a keeper that dies under a running daemon is replaced at the next run.
 * Run: bun run build.ts && bun test test/containers-restart.test.ts (as root)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { isRunning, keeperPids, reap } from "./helpers/daemon";
import { eventually } from "./helpers/wait";

let e: ContainerEnv;

beforeAll(async () => {
  // Test daemons run with --live-restore=false (see helpers/daemon.ts).
  e = await startContainerEnv();
}, 120_000);

afterAll(() => stopContainerEnv(e), 60_000);

const state = async (ref: string) => JSON.parse((await e.docker(["inspect", ref])).stdout)[0].State;
const mountsUnderRoot = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`${e.daemon.dataRoot}/containers`));

test("with live-restore off, a daemon stop stops the containers and ends the keeper; the next start brings back --restart always", async () => {
  await e.docker(["run", "-d", "--name", "plain", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
  await e.docker(["run", "-d", "--name", "always", "--restart", "always", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
  const plainPid = (await state("plain")).Pid;
  const alwaysPid = (await state("always")).Pid;
  const [keeper] = keeperPids(e.daemon.dataRoot);
  expect(await e.daemon.stop()).toBe(0);
  expect(isRunning(plainPid)).toBe(false);
  expect(isRunning(alwaysPid)).toBe(false);
  expect(isRunning(keeper!)).toBe(false);
  expect(mountsUnderRoot()).toEqual([]);

  await e.daemon.restart();
  expect(await state("plain")).toMatchObject({ Status: "exited", Running: false, Pid: 0 });
  const always = await state("always");
  expect(always.Running).toBe(true);
  expect(always.Pid).not.toBe(alwaysPid);
  expect(isRunning(always.Pid)).toBe(true);
  await e.docker(["rm", "-f", "plain", "always"]);
}, 60_000);

test("when the keeper is lost with the daemon, the next daemon kills the leftovers and records the containers as lost", async () => {
  await e.docker(["run", "-d", "--name", "orphan", e.busybox, "sleep", "300"]);
  const pid = (await state("orphan")).Pid;
  const [keeper] = keeperPids(e.daemon.dataRoot);
  await e.daemon.kill9();
  // Our daemon's keeper, by the pid it recorded; we are the subreaper that inherits it and its container.
  process.kill(keeper!, "SIGKILL");
  await reap(keeper!);
  expect(isRunning(pid)).toBe(true);

  await e.daemon.restart();
  expect(await state("orphan")).toMatchObject({ Status: "exited", Running: false, Pid: 0, ExitCode: 255, Error: "container process lost while the daemon was down" });
  await reap(pid);
  expect(isRunning(pid)).toBe(false);
  expect(mountsUnderRoot()).toEqual([]);
  // The container still works, in the keeper the new daemon started.
  expect((await e.docker(["start", "orphan"])).exitCode).toBe(0);
  expect((await state("orphan")).Running).toBe(true);
  expect(keeperPids(e.daemon.dataRoot)).not.toContain(keeper);
  await e.docker(["rm", "-f", "orphan"]);
}, 60_000);

test("a keeper that dies under a running daemon: its containers are recorded lost, a new keeper takes the next run", async () => {
  await e.docker(["run", "-d", "--name", "victim", e.busybox, "sleep", "300"]);
  const pid = (await state("victim")).Pid;
  const [keeper] = keeperPids(e.daemon.dataRoot);
  process.kill(keeper!, "SIGKILL");
  await eventually(async () => (await state("victim")).Status === "exited", "the container to be recorded lost");
  expect(await state("victim")).toMatchObject({ Running: false, ExitCode: 255, Error: "container process lost: its keeper went away" });
  // Killed and reaped by the daemon it was reparented to.
  await eventually(() => !existsSync(`/proc/${pid}`), "the container process to be reaped");
  expect((await e.docker(["run", "--rm", e.busybox, "echo", "ok"])).stdout).toBe("ok\n");
  expect(keeperPids(e.daemon.dataRoot)).not.toContain(keeper);
  expect(existsSync(`/proc/${keeper}`)).toBe(false);
  await e.docker(["rm", "-f", "victim"]);
}, 60_000);
