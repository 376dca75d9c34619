/** The results of a run: the table printed at the end and the JSON written to bench/results/latest.json. */
import type { Figure } from "./types.ts";

export interface CaseResult {
  name: string;
  seconds: number;
  figures: Figure[];
  error?: string;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  host: { bun: string; cpus: number; kernel: string };
  engines: { bunker: string | null; peer: string | null; peerUnavailable: string | null };
  cases: CaseResult[];
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  return value.toPrecision(3);
}

function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ").trimEnd();
}

export function formatTable(results: BenchResults): string {
  const header = ["case", "figure", "unit", "bunker", "p95", "n", "peer", "median", "p95", "ratio"];
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const result of results.cases) {
    if (result.error) {
      rows.push([result.name, `FAILED: ${result.error.split("\n")[0]}`]);
      continue;
    }
    for (const figure of result.figures) {
      const peer = figure.peer;
      rows.push([
        result.name,
        figure.name,
        figure.unit,
        formatNumber(figure.bunker.median),
        formatNumber(figure.bunker.p95),
        String(figure.bunker.n),
        peer?.name ?? "-",
        peer ? formatNumber(peer.median) : "",
        peer ? formatNumber(peer.p95) : "",
        figure.ratio === undefined ? "" : `${figure.ratio.toFixed(2)}x`,
      ]);
      if (figure.note) notes.push(`${figure.name}: ${figure.note}`);
    }
  }
  const widths = header.map((title, i) => Math.max(title.length, ...rows.filter((r) => r.length > 2).map((r) => r[i]!.length)));
  const lines = [row(header, widths), ...rows.map((r) => (r.length > 2 ? row(r, widths) : r.join("  ")))];
  lines.push("", "ratio: how many times better Bunker's median is than the peer's (above 1: Bunker wins); MB = 10^6 bytes.");
  if (results.engines.peerUnavailable) lines.push(`no Docker peer: ${results.engines.peerUnavailable}`);
  lines.push(...notes);
  return lines.join("\n");
}
