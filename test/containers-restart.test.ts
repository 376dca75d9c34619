/**
 * Containers across daemon restarts (they do not outlive the daemon yet): a clean stop stops them, a restart
 * brings back `--restart always`; after a kill -9 of the daemon, the next one kills what was left, unmounts,
 * and records the containers as exited — nothing orphaned, nothing mounted, every recorded state true.
 * Run: bun run build.ts && bun test test/containers-restart.test.ts (as root)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";

let e: ContainerEnv;

beforeAll(async () => {
  e = await startContainerEnv();
}, 120_000);

afterAll(() => stopContainerEnv(e), 60_000);

const state = async (ref: string) => JSON.parse((await e.docker(["inspect", ref])).stdout)[0].State;
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
const mountsUnderRoot = () => readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(`${e.daemon.dataRoot}/containers`));

test("a daemon stop stops the containers; the next start brings back --restart always", async () => {
  await e.docker(["run", "-d", "--name", "plain", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
  await e.docker(["run", "-d", "--name", "always", "--restart", "always", "--stop-timeout", "1", e.busybox, "sleep", "300"]);
  const plainPid = (await state("plain")).Pid;
  const alwaysPid = (await state("always")).Pid;
  expect(await e.daemon.stop()).toBe(0);
  expect(alive(plainPid)).toBe(false);
  expect(alive(alwaysPid)).toBe(false);
  expect(mountsUnderRoot()).toEqual([]);

  await e.daemon.restart();
  expect(await state("plain")).toMatchObject({ Status: "exited", Running: false, Pid: 0 });
  const always = await state("always");
  expect(always.Running).toBe(true);
  expect(always.Pid).not.toBe(alwaysPid);
  expect(alive(always.Pid)).toBe(true);
  await e.docker(["rm", "-f", "plain", "always"]);
}, 60_000);

test("after kill -9 of the daemon, the next one reconciles: leftovers killed, state exited, nothing mounted", async () => {
  await e.docker(["run", "-d", "--name", "orphan", e.busybox, "sleep", "300"]);
  const pid = (await state("orphan")).Pid;
  await e.daemon.kill9();
  await e.daemon.restart();
  expect(await state("orphan")).toMatchObject({ Status: "exited", Running: false, Pid: 0, ExitCode: 255 });
  const deadline = Date.now() + 5000;
  while (alive(pid) && Date.now() < deadline) await Bun.sleep(50);
  expect(alive(pid)).toBe(false);
  expect(mountsUnderRoot()).toEqual([]);
  // The container still works.
  expect((await e.docker(["start", "orphan"])).exitCode).toBe(0);
  expect((await state("orphan")).Running).toBe(true);
  await e.docker(["rm", "-f", "orphan"]);
}, 60_000);
