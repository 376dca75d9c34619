import type { Figure, Summary } from "./types.ts";

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: number[], fraction: number): number {
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1]!;
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = samples.toSorted((a, b) => a - b);
  return { median: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), n: sorted.length };
}

export function compareFigures(
  name: string,
  unit: string,
  better: Figure["better"],
  bunker: Summary,
  peer?: Summary & { name: string },
): Figure {
  if (!peer) return { name, unit, better, bunker };
  const ratio = better === "higher" ? bunker.median / peer.median : peer.median / bunker.median;
  return { name, unit, better, bunker, peer, ratio };
}

/** Run `one` `warmup` times unmeasured, then `n` times; returns the `n` values it measured. */
export async function sampleRuns(n: number, warmup: number, one: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await one();
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await one());
  return out;
}

/** How many measured runs a case makes: at least 30 in a full run (after warm-up), `quick` in --quick. */
export function runCount(context: { quick: boolean }, quick = 10): number {
  return context.quick ? quick : 30;
}
