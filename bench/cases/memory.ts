/**
 * Memory of the engines themselves, from /proc/<pid>/smaps_rollup: idle RSS and PSS (Bunker: daemon + keeper;
 * Docker: dockerd + containerd), then RSS and PSS per running container with 20 `sleep` containers (Bunker: the
 * daemon's and keeper's growth / 20; Docker: dockerd's, containerd's and all shims' growth / 20). The containers'
 * own processes are the workload and are not counted. "Idle" is after a pull and one container run, so lazily
 * loaded parts of each engine are in.
 */
import { readFileSync } from "node:fs";
import { api, pull } from "../engine-api.ts";
import { benchRegistry } from "../registry.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, BenchContext, Engine, Figure, Summary } from "../types.ts";

const CONTAINERS = 20;
const SAMPLES = 5;
const SAMPLE_INTERVAL_MS = 200;
const SETTLE_MS = 1000;
const KIB_PER_MIB = 1024;

interface Usage {
  rssKiB: number;
  pssKiB: number;
}

/** Rss and Pss of one process; zero for one that is gone (or a zombie, which has no memory left). */
function usageOf(pid: number): Usage {
  let rollup: string;
  try {
    rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  } catch {
    return { rssKiB: 0, pssKiB: 0 };
  }
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? 0);
  return { rssKiB: field("Rss"), pssKiB: field("Pss") };
}

function engineUsage(pids: number[]): Usage {
  return pids.map(usageOf).reduce((sum, u) => ({ rssKiB: sum.rssKiB + u.rssKiB, pssKiB: sum.pssKiB + u.pssKiB }), { rssKiB: 0, pssKiB: 0 });
}

async function sampleUsage(pids: () => number[]): Promise<Usage[]> {
  const samples: Usage[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await Bun.sleep(SAMPLE_INTERVAL_MS);
    samples.push(engineUsage(pids()));
  }
  return samples;
}

/** "name RSS" of each process, e.g. "dockerd 61.2 + containerd 38.0". */
function describe(pids: number[]): string {
  const name = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch {
      return String(pid);
    }
  };
  return pids.map((pid) => `${name(pid)} ${(usageOf(pid).rssKiB / KIB_PER_MIB).toFixed(1)}`).join(" + ");
}

async function runOnce(engine: Engine, image: string): Promise<void> {
  const { Id } = (await (await api(engine, "POST", "/containers/create", { Image: image, Cmd: ["true"], HostConfig: { NetworkMode: "none" } })).json()) as { Id: string };
  const wait = api(engine, "POST", `/containers/${Id}/wait?condition=next-exit`);
  await api(engine, "POST", `/containers/${Id}/start`);
  await (await wait).arrayBuffer();
  await api(engine, "DELETE", `/containers/${Id}?force=1`);
}

interface EngineMemory {
  idleRss: Summary;
  idlePss: Summary;
  perContainerRss: Summary;
  perContainerPss: Summary;
  /** Each process's idle RSS, for the note. */
  breakdown: string;
}

async function measureEngine(context: BenchContext, engine: Engine, image: string): Promise<EngineMemory> {
  if (!engine.processes) throw new Error(`${engine.name} does not tell its processes`);
  const pids = () => engine.processes!();
  await pull(engine, image);
  await runOnce(engine, image);
  await Bun.sleep(SETTLE_MS);
  const idle = await sampleUsage(pids);
  const breakdown = describe(pids());
  context.log(`memory: ${CONTAINERS} sleep containers on ${engine.name}`);
  const ids: string[] = [];
  try {
    for (let i = 0; i < CONTAINERS; i++) {
      const body = { Image: image, Cmd: ["sleep", "100000"], HostConfig: { NetworkMode: "none" } };
      const { Id } = (await (await api(engine, "POST", "/containers/create", body)).json()) as { Id: string };
      ids.push(Id);
      await api(engine, "POST", `/containers/${Id}/start`);
    }
    await Bun.sleep(SETTLE_MS);
    const loaded = await sampleUsage(pids);
    const idleRss = summarize(idle.map((u) => u.rssKiB / KIB_PER_MIB));
    const idlePss = summarize(idle.map((u) => u.pssKiB / KIB_PER_MIB));
    const perContainer = (key: keyof Usage, base: number) => summarize(loaded.map((u) => (u[key] / KIB_PER_MIB - base) / CONTAINERS));
    return { idleRss, idlePss, perContainerRss: perContainer("rssKiB", idleRss.median), perContainerPss: perContainer("pssKiB", idlePss.median), breakdown };
  } finally {
    for (const id of ids) await api(engine, "DELETE", `/containers/${id}?force=1`).catch(() => {});
  }
}

export const memoryCase: BenchCase = {
  name: "memory",
  async run(context) {
    const { info } = await benchRegistry();
    const image = info.busybox.reference;
    const bunker = await context.bunker();
    context.log(`memory: idle ${bunker.name}`);
    const ours = await measureEngine(context, bunker, image);
    const peer = await context.peer();
    let theirs: EngineMemory | undefined;
    let peerNote: string | undefined;
    if (peer) {
      context.log(`memory: idle ${peer.name}`);
      theirs = await measureEngine(context, peer, image).catch((error: Error) => {
        peerNote = `${peer.name} failed: ${error.message.slice(0, 200)}`;
        return undefined;
      });
    }
    const figure = (name: string, pick: (m: EngineMemory) => Summary, note?: string): Figure => {
      const fig = compareFigures(name, "MiB", "lower", pick(ours), theirs && peer ? { name: peer.name, ...pick(theirs) } : undefined);
      const notes = [note, peerNote].filter(Boolean).join("; ");
      return notes ? { ...fig, note: notes } : fig;
    };
    const idleNote = `idle RSS MiB: ${bunker.name}: ${ours.breakdown}${theirs && peer ? `; ${peer.name}: ${theirs.breakdown}` : ""}`;
    return [
      figure("idle engine RSS (daemon + keeper; dockerd + containerd)", (m) => m.idleRss, idleNote),
      figure("idle engine PSS", (m) => m.idlePss),
      figure(`engine RSS per running container (${CONTAINERS} sleep; Docker incl. shims)`, (m) => m.perContainerRss),
      figure(`engine PSS per running container (${CONTAINERS} sleep; Docker incl. shims)`, (m) => m.perContainerPss),
    ];
  },
};
