/**
 * API throughput and latency over the unix socket: GET /_ping and GET /version with 1 and 16 concurrent keep-alive
 * clients, for Bunker and, when one runs, the Docker peer measured the same way. The load generator shares the CPU
 * with the engine under test, as a local client would.
 */
import { measureRequests, type LoadResult } from "../http-client.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, Engine, Figure } from "../types.ts";

const REQUESTS = ["GET /_ping", "GET /version"];
const CLIENTS = [1, 16];

function measure(engine: Engine, request: string, clients: number, quick: boolean): Promise<LoadResult> {
  return measureRequests({
    socket: engine.socket,
    request,
    clients,
    warmupMs: quick ? 200 : 500,
    rounds: quick ? 3 : 5,
    roundMs: quick ? 400 : 2000,
  });
}

export const httpCase: BenchCase = {
  name: "http",
  async run(context) {
    const bunker = await context.bunker();
    const peer = await context.peer();
    const figures: Figure[] = [];
    for (const request of REQUESTS) {
      for (const clients of CLIENTS) {
        const label = `${request}, ${clients} client${clients === 1 ? "" : "s"}`;
        context.log(`http: ${label} on ${bunker.name}`);
        const ours = await measure(bunker, request, clients, context.quick);
        let theirs: LoadResult | undefined;
        let note: string | undefined;
        if (peer) {
          context.log(`http: ${label} on ${peer.name}`);
          try {
            theirs = await measure(peer, request, clients, context.quick);
          } catch (error) {
            note = `${peer.name} failed: ${(error as Error).message}`;
          }
        }
        const peerSummary = (samples: number[] | undefined) => (theirs && peer && samples ? { name: peer.name, ...summarize(samples) } : undefined);
        const throughput = compareFigures(`${label}: throughput`, "req/s", "higher", summarize(ours.rates), peerSummary(theirs?.rates));
        const latency = compareFigures(`${label}: latency`, "ms", "lower", summarize(ours.latencies), peerSummary(theirs?.latencies));
        figures.push(note ? { ...throughput, note } : throughput, note ? { ...latency, note } : latency);
      }
    }
    return figures;
  },
};
