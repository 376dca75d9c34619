/** Pull throughput of the ~100 MB fixture image from a local registry, after removing it: MB/s compressed and unpacked. */
import { pull, removeImage } from "../engine-api.ts";
import { benchRegistry } from "../registry.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, Engine, Figure } from "../types.ts";

async function timedPull(engine: Engine, reference: string): Promise<number> {
  await removeImage(engine, reference);
  const started = performance.now();
  await pull(engine, reference);
  return (performance.now() - started) / 1000;
}

export const pullCase: BenchCase = {
  name: "pull",
  async run(context) {
    const { info } = await benchRegistry();
    const large = info.large!;
    const compressed = large.layers.reduce((n, l) => n + l.size, 0);
    const bunker = await context.bunker();
    const peer = await context.peer();
    const runs = context.quick ? 2 : 5;
    const measure = async (engine: Engine) => {
      const secs: number[] = [];
      for (let i = 0; i < runs; i++) secs.push(await timedPull(engine, large.reference));
      return secs;
    };
    context.log(`pull: ${large.reference} (${(compressed / 1e6).toFixed(1)} MB compressed) on ${bunker.name}`);
    const ours = await measure(bunker);
    const unpacked = (await (await fetch(`http://engine/images/${large.reference}/json`, { unix: bunker.socket } as RequestInit)).json()) as { Size: number };
    let theirs: number[] | undefined;
    let note: string | undefined;
    if (peer) {
      context.log(`pull: on ${peer.name}`);
      theirs = await measure(peer).catch((e: Error) => {
        note = `peer failed: ${e.message.slice(0, 200)}`;
        return undefined;
      });
    }
    const rate = (bytes: number, secs: number[]) => summarize(secs.map((s) => bytes / 1e6 / s));
    const figures: Figure[] = [];
    for (const [label, bytes] of [["compressed", compressed], ["unpacked", unpacked.Size]] as const) {
      const fig = compareFigures(`pull large image, MB/s ${label}`, "MB/s", "higher", rate(bytes, ours), theirs ? { ...rate(bytes, theirs), name: peer!.name } : undefined);
      figures.push(note ? { ...fig, note } : fig);
    }
    return figures;
  },
};
