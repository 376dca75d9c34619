/**
 * `GET /containers/json?all=1` with 100 containers (created, not started, `--network none`) on each engine:
 * requests/s and latency at 1 and 16 concurrent keep-alive clients. The containers are removed afterwards.
 */
import { api, pull } from "../engine-api.ts";
import { measureRequests, type LoadResult } from "../http-client.ts";
import { benchRegistry } from "../registry.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, BenchContext, Engine, Figure } from "../types.ts";

const CONTAINERS = 100;
const CLIENTS = [1, 16];
const REQUEST = "GET /v1.41/containers/json?all=1";

async function createContainers(engine: Engine, image: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < CONTAINERS; i++) {
    const body = { Image: image, Cmd: ["true"], HostConfig: { NetworkMode: "none" } };
    ids.push(((await (await api(engine, "POST", "/containers/create", body)).json()) as { Id: string }).Id);
  }
  return ids;
}

async function removeContainers(engine: Engine, ids: string[]): Promise<void> {
  for (const id of ids) await api(engine, "DELETE", `/containers/${id}?force=1`).catch(() => {});
}

/** The load at each client count, with the engine holding exactly its containers plus ours. */
async function measureEngine(context: BenchContext, engine: Engine, image: string): Promise<LoadResult[]> {
  await pull(engine, image);
  context.log(`list: creating ${CONTAINERS} containers on ${engine.name}`);
  const ids: string[] = [];
  try {
    ids.push(...(await createContainers(engine, image)));
    const listed = (await (await api(engine, "GET", "/containers/json?all=1")).json()) as unknown[];
    if (listed.length < CONTAINERS) throw new Error(`${engine.name} lists ${listed.length} containers, expected at least ${CONTAINERS}`);
    const results: LoadResult[] = [];
    for (const clients of CLIENTS) {
      context.log(`list: ${REQUEST}, ${clients} client(s) on ${engine.name}`);
      results.push(
        await measureRequests({
          socket: engine.socket,
          request: REQUEST,
          clients,
          warmupMs: context.quick ? 200 : 1000,
          rounds: context.quick ? 3 : 5,
          roundMs: context.quick ? 400 : 2000,
        }),
      );
    }
    return results;
  } finally {
    await removeContainers(engine, ids);
  }
}

export const listCase: BenchCase = {
  name: "list",
  async run(context) {
    const { info } = await benchRegistry();
    const image = info.busybox.reference;
    const ours = await measureEngine(context, await context.bunker(), image);
    const peer = await context.peer();
    let theirs: LoadResult[] | undefined;
    let note: string | undefined;
    if (peer) {
      theirs = await measureEngine(context, peer, image).catch((error: Error) => {
        note = `${peer.name} failed: ${error.message.slice(0, 200)}`;
        return undefined;
      });
    }
    const figures: Figure[] = [];
    CLIENTS.forEach((clients, i) => {
      const label = `GET /containers/json?all=1 (${CONTAINERS} containers), ${clients} client${clients === 1 ? "" : "s"}`;
      const peerSummary = (samples: number[] | undefined) => (peer && samples ? { name: peer.name, ...summarize(samples) } : undefined);
      const throughput = compareFigures(`${label}: throughput`, "req/s", "higher", summarize(ours[i]!.rates), peerSummary(theirs?.[i]!.rates));
      const latency = compareFigures(`${label}: latency`, "ms", "lower", summarize(ours[i]!.latencies), peerSummary(theirs?.[i]!.latencies));
      figures.push(note ? { ...throughput, note } : throughput, note ? { ...latency, note } : latency);
    });
    return figures;
  },
};
