/**
 * Container lifecycle: `docker run --rm busybox true` through the same docker CLI against each engine, and the API
 * lifecycle create + start + wait + remove over the unix socket (default network and --network none).
 */
import { existsSync } from "node:fs";
import { api, pull, timedDockerRun } from "../engine-api.ts";
import { benchRegistry } from "../registry.ts";
import { compareFigures, runCount, sampleRuns, summarize } from "../stats.ts";
import type { BenchCase, BenchContext, Engine, Figure } from "../types.ts";

async function lifecycle(engine: Engine, image: string, networkMode: string): Promise<number> {
  const started = performance.now();
  const created = (await (await api(engine, "POST", "/containers/create", { Image: image, Cmd: ["true"], HostConfig: { NetworkMode: networkMode } })).json()) as { Id: string };
  const wait = api(engine, "POST", `/containers/${created.Id}/wait?condition=next-exit`);
  await api(engine, "POST", `/containers/${created.Id}/start`);
  const { StatusCode } = (await (await wait).json()) as { StatusCode: number };
  await api(engine, "DELETE", `/containers/${created.Id}?force=1`);
  if (StatusCode !== 0) throw new Error(`container exited ${StatusCode}`);
  return performance.now() - started;
}

async function both(context: BenchContext, name: string, n: number, measure: (engine: Engine) => Promise<number>, peerAllowed = true): Promise<Figure> {
  const bunker = await context.bunker();
  context.log(`containers: ${name} on ${bunker.name}`);
  const ours = summarize(await sampleRuns(n, 3, () => measure(bunker)));
  const peer = peerAllowed ? await context.peer() : null;
  if (!peer) return { ...compareFigures(name, "ms", "lower", ours), ...(peerAllowed ? {} : { note: "peer runs without a bridge" }) };
  context.log(`containers: ${name} on ${peer.name}`);
  try {
    const theirs = summarize(await sampleRuns(n, 3, () => measure(peer)));
    return compareFigures(name, "ms", "lower", ours, { ...theirs, name: peer.name });
  } catch (error) {
    return { ...compareFigures(name, "ms", "lower", ours), note: `peer failed: ${(error as Error).message.slice(0, 200)}` };
  }
}

export const containersCase: BenchCase = {
  name: "containers",
  async run(context) {
    const { info } = await benchRegistry();
    const image = info.busybox.reference;
    const bunker = await context.bunker();
    const peer = await context.peer();
    await pull(bunker, image);
    if (peer) await pull(peer, image);
    const n = runCount(context);
    const figures: Figure[] = [];
    if (existsSync("/usr/local/bin/docker")) {
      figures.push(await both(context, "docker run --rm busybox true (CLI)", n, (e) => timedDockerRun(e, ["run", "--rm", "--network", "none", image, "true"])));
    }
    figures.push(await both(context, "API create+start+wait+rm, --network none", n, (e) => lifecycle(e, image, "none")));
    figures.push(await both(context, "API create+start+wait+rm, default bridge", n, (e) => lifecycle(e, image, "bridge"), false));
    return figures;
  },
};
