/**
 * Runtime floors: what starting `true` in fresh namespaces costs with the stock tools, on the same busybox rootfs —
 * `runc run` (Docker's runtime), `crun run`, and `unshare -fpmnui --mount-proc true` (namespaces only, no rootfs).
 * They bound from below what any engine built on them can reach. runc and crun run a minimal OCI bundle generated
 * with `runc spec` (no terminal, args ["true"], not rootless) and keep their state in the case's own temp dir.
 *
 * crun 1.8 refuses a hybrid cgroup layout whose cgroup2 mount has controllers ("cgroups in hybrid mode not supported,
 * drop all controllers from cgroupv2"), even with --cgroup-manager=disabled. On such a host (this one) crun runs
 * inside a mount namespace where /sys/fs/cgroup/unified is unmounted (bun-facts.md Q1f), entered with nsenter from a
 * holder process the case starts and ends; the figure then includes nsenter's exec, and the note gives nsenter's own
 * floor. crun is measured with cgroups (cgroupfs, v1 in that namespace) and with --cgroup-manager=disabled.
 * crun and runc are installed with apt only when the run may install packages (--with-docker / BENCH_DOCKER=1).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aptInstall } from "../apt.ts";
import { compareFigures, runCount, sampleRuns, summarize } from "../stats.ts";
import type { BenchCase, BenchContext, Figure } from "../types.ts";

const BUSYBOX = "/bin/busybox";
const CONTAINER_ID = "bunker-bench-floor";

interface OciConfig {
  process: { terminal: boolean; args: string[] };
  root: { path: string; readonly: boolean };
}

async function spawnChecked(argv: string[], cwd?: string): Promise<void> {
  const proc = Bun.spawn(argv, { cwd, stdout: "ignore", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${stderr.trim().slice(0, 300)}`);
}

async function timed(argv: string[]): Promise<number> {
  const started = performance.now();
  await spawnChecked(argv);
  return performance.now() - started;
}

/** A bundle whose rootfs is busybox with the applets the floors need. */
async function makeBundle(dir: string, runc: string): Promise<string> {
  const bundle = join(dir, "bundle");
  const bin = join(bundle, "rootfs", "bin");
  mkdirSync(bin, { recursive: true });
  copyFileSync(BUSYBOX, join(bin, "busybox"));
  for (const applet of ["true", "sh"]) symlinkSync("busybox", join(bin, applet));
  await spawnChecked([runc, "spec", "--bundle", bundle]);
  const configPath = join(bundle, "config.json");
  const config = JSON.parse(readFileSync(configPath, "utf8")) as OciConfig;
  config.process.terminal = false;
  config.process.args = ["true"];
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return bundle;
}

/** The path of `name`, installing `pkg` first when it is missing and the run allows it; null if unavailable. */
async function ensureTool(context: BenchContext, name: string, pkg: string): Promise<string | null> {
  const found = Bun.which(name, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` });
  if (found || !context.mayInstall) return found;
  const failure = await aptInstall([pkg], context.log);
  if (failure) context.log(`floors: ${failure}`);
  return Bun.which(name, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` });
}

interface Floor {
  name: string;
  argv: string[];
  note?: string;
}

/** A process holding a private mount namespace without the cgroup2 mount; `enter` prefixes a command to run there. */
interface LegacyCgroupNamespace {
  enter: string[];
  stop(): Promise<void>;
}

async function startLegacyCgroupNamespace(): Promise<LegacyCgroupNamespace> {
  const holder = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", "umount -l /sys/fs/cgroup/unified && echo ready && exec sleep 1000000"], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const stop = async () => {
    holder.kill("SIGKILL");
    await holder.exited;
  };
  const { value } = await holder.stdout.getReader().read();
  if (!value || !new TextDecoder().decode(value).startsWith("ready")) {
    await stop();
    throw new Error(`no mount namespace without the cgroup2 mount: ${(await new Response(holder.stderr).text()).trim()}`);
  }
  return { enter: ["nsenter", "-t", String(holder.pid), "-m", "--"], stop };
}

/** Median of `argv`'s wall time over the run's sample count. */
async function medianMs(context: BenchContext, argv: string[]): Promise<number> {
  return summarize(await sampleRuns(runCount(context), 3, () => timed(argv))).median;
}

/**
 * crun with cgroups and without. On a host whose hybrid layout crun refuses, both run inside a mount namespace
 * without the cgroup2 mount; `cleanUps` gets the holder's stop and the `delete --force` of a leftover container.
 */
async function crunFloors(context: BenchContext, crun: string, bundle: string, dir: string, cleanUps: (() => Promise<void>)[]): Promise<Floor[]> {
  const state = join(dir, "crun-state");
  const run = (prefix: string[], managerFlags: string[]) => [...prefix, crun, ...managerFlags, "--root", state, "run", "--bundle", bundle, CONTAINER_ID];
  let prefix: string[] = [];
  let note: string | undefined;
  try {
    await spawnChecked(run([], ["--cgroup-manager=disabled"]));
  } catch (error) {
    if (!(error as Error).message.includes("hybrid mode not supported")) throw error;
    const namespace = await startLegacyCgroupNamespace();
    cleanUps.push(namespace.stop);
    prefix = namespace.enter;
    const nsenterMs = await medianMs(context, [...prefix, "true"]);
    note = `crun refuses this host's hybrid cgroup layout: run through nsenter in a mount namespace without /sys/fs/cgroup/unified (nsenter … true alone: ${nsenterMs.toFixed(2)} ms median)`;
  }
  cleanUps.push(async () => void (await Bun.spawn([...prefix, crun, "--root", state, "delete", "--force", CONTAINER_ID], { stdout: "ignore", stderr: "ignore" }).exited));
  return [
    { name: "crun run (cgroupfs)", argv: run(prefix, ["--cgroup-manager=cgroupfs"]), note },
    { name: "crun --cgroup-manager=disabled run", argv: run(prefix, ["--cgroup-manager=disabled"]), note },
  ];
}

export const floorsCase: BenchCase = {
  name: "floors",
  async run(context) {
    const dir = mkdtempSync("/tmp/bench-floors-");
    const cleanUps: (() => Promise<void>)[] = [];
    try {
      const runc = await ensureTool(context, "runc", "runc");
      const crun = await ensureTool(context, "crun", "crun");
      const unshare = Bun.which("unshare");
      const bundle = runc ? await makeBundle(dir, runc) : null;
      const floors: Floor[] = [];
      const missing: string[] = [];
      if (runc && bundle) {
        const state = join(dir, "runc-state");
        floors.push({ name: "runc run", argv: [runc, "--root", state, "run", "--bundle", bundle, CONTAINER_ID] });
        cleanUps.push(async () => void (await Bun.spawn([runc, "--root", state, "delete", "--force", CONTAINER_ID], { stdout: "ignore", stderr: "ignore" }).exited));
      } else missing.push("runc");
      if (crun && bundle) floors.push(...(await crunFloors(context, crun, bundle, dir, cleanUps)));
      else missing.push(crun ? "crun (no bundle: runc spec is missing)" : "crun");
      if (unshare) floors.push({ name: "unshare -fpmnui --mount-proc true", argv: [unshare, "-fpmnui", "--mount-proc", "true"], note: "namespaces only: the host's true, no rootfs" });
      else missing.push("unshare");

      const figures: Figure[] = [];
      const failures: string[] = [];
      for (const floor of floors) {
        context.log(`floors: ${floor.name}`);
        try {
          const figure = compareFigures(`runtime floor: ${floor.name}`, "ms", "lower", summarize(await sampleRuns(runCount(context), 3, () => timed(floor.argv))));
          figures.push(floor.note ? { ...figure, note: floor.note } : figure);
        } catch (error) {
          failures.push(`${floor.name}: ${(error as Error).message}`);
        }
      }
      const problems = [...(missing.length > 0 ? [`not measured: ${missing.join(", ")} missing (--with-docker installs runc and crun)`] : []), ...failures.map((f) => `failed: ${f}`)];
      if (figures.length === 0) throw new Error(problems.join("; ") || "no runtime to measure");
      if (problems.length > 0) figures[0] = { ...figures[0]!, note: [figures[0]!.note, ...problems].filter(Boolean).join("; ") };
      return figures;
    } finally {
      for (const cleanUp of cleanUps.reverse()) await cleanUp().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
