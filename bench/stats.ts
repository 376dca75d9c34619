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
