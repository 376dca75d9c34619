/**
 * The keeper (containers outlive the daemon): its memory per container with 20 running `sleep` containers, and
 * the re-adoption time after a `kill -9` of the daemon (daemon start to all 20 listed running). Bunker alone on
 * its own daemon (live-restore on); Docker's figure for comparison is containerd-shim's +2.6 MiB PSS per
 * container measured on these machines (shared/design/keeper.md).
 */
import { readFileSync } from "node:fs";
import { keeperPids, startDaemon, stopDaemon } from "../../test/helpers/daemon.ts";
import { api, pull } from "../engine-api.ts";
import { benchRegistry } from "../registry.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, Engine } from "../types.ts";

const CONTAINERS = 20;
const SHIM_PSS_NOTE = "Docker: containerd-shim +2.6 MiB PSS per container (shared/design/keeper.md)";

function pssKiB(pid: number): number {
  return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? Number.NaN);
}

async function runningCount(engine: Engine): Promise<number> {
  return ((await (await api(engine, "GET", "/containers/json")).json()) as unknown[]).length;
}

export const keeperCase: BenchCase = {
  name: "keeper",
  async run(context) {
    const { info } = await benchRegistry();
    const daemon = await startDaemon({ logLevel: "info", liveRestore: true });
    try {
      const engine: Engine = { name: "bunker", socket: daemon.socket };
      await pull(engine, info.busybox.reference);
      context.log(`keeper: starting ${CONTAINERS} sleep containers`);
      for (let i = 0; i < CONTAINERS; i++) {
        const body = { Image: info.busybox.reference, Cmd: ["sleep", "100000"], HostConfig: { NetworkMode: "none" } };
        const { Id } = (await (await api(engine, "POST", "/containers/create", body)).json()) as { Id: string };
        await api(engine, "POST", `/containers/${Id}/start`);
      }
      const [keeper] = keeperPids(daemon.dataRoot);
      const perContainer = pssKiB(keeper!) / CONTAINERS;

      const rounds = context.quick ? 3 : 7;
      const readoption: number[] = [];
      for (let i = 0; i < rounds; i++) {
        context.log(`keeper: kill -9 of the daemon, re-adoption ${i + 1}/${rounds}`);
        await daemon.kill9();
        const started = performance.now();
        await daemon.restart();
        while ((await runningCount(engine)) < CONTAINERS) await Bun.sleep(2);
        readoption.push(performance.now() - started);
      }
      return [
        { ...compareFigures(`keeper PSS per container, ${CONTAINERS} sleep containers`, "KiB", "lower", summarize([perContainer])), note: SHIM_PSS_NOTE },
        { ...compareFigures(`re-adoption after kill -9 of the daemon, ${CONTAINERS} containers`, "ms", "lower", summarize(readoption)), note: "daemon start to all listed running" },
      ];
    } finally {
      // This daemon leaves its containers running at shutdown: stopDaemon ends its keeper, which kills them.
      await stopDaemon(daemon);
    }
  },
};
