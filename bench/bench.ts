#!/usr/bin/env bun
/**
 * Bunker's benchmarks: `bun run bench [--quick] [--with-docker | --without-docker] [--only case,...] [--out file]`.
 * Runs every case in bench/cases, prints a table and writes bench/results/latest.json (or the --out file). A case that fails is reported
 * in both and the others still run; the exit code is 1 when any case failed.
 *
 * The Docker peer: used when dockerd is installed; --with-docker (or BENCH_DOCKER=1) also installs docker.io when it
 * is missing; --without-docker (or BENCH_DOCKER=0) measures Bunker alone.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CASES } from "./cases/index.ts";
import { createContext, type PeerMode } from "./context.ts";
import { formatTable, type BenchResults, type CaseResult } from "./report.ts";


const { values: flags } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: "boolean", default: false },
    "with-docker": { type: "boolean", default: false },
    "without-docker": { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string" },
  },
});

const resultsFile = resolve(flags.out ?? join(import.meta.dir, "results", "latest.json"));
const dockerEnv = process.env.BENCH_DOCKER;
const peerMode: PeerMode =
  flags["without-docker"] || dockerEnv === "0" ? "off" : flags["with-docker"] || dockerEnv === "1" ? "install" : "if-installed";
const only = flags.only?.split(",").map((name) => name.trim());
const unknown = only?.filter((name) => !CASES.some((c) => c.name === name)) ?? [];
if (unknown.length > 0) {
  process.stderr.write(`unknown case(s): ${unknown.join(", ")}; cases: ${CASES.map((c) => c.name).join(", ")}\n`);
  process.exit(2);
}

const log = (message: string) => void process.stderr.write(`[bench] ${message}\n`);
const context = createContext({ quick: flags.quick, peerMode, log });
const stopOnSignal = (signal: NodeJS.Signals) => {
  log(`${signal}: stopping the engines`);
  void context.close().finally(() => process.exit(130));
};
process.once("SIGINT", stopOnSignal);
process.once("SIGTERM", stopOnSignal);

const startedAt = new Date();
const results: CaseResult[] = [];
try {
  for (const benchCase of CASES.filter((c) => !only || only.includes(c.name))) {
    const started = performance.now();
    log(`case ${benchCase.name}`);
    try {
      const figures = await benchCase.run(context);
      results.push({ name: benchCase.name, seconds: (performance.now() - started) / 1000, figures });
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`case ${benchCase.name} failed: ${message}`);
      results.push({ name: benchCase.name, seconds: (performance.now() - started) / 1000, figures: [], error: message });
    }
  }
} finally {
  await context.close();
}

const report: BenchResults = {
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  quick: flags.quick,
  host: { bun: Bun.version, cpus: cpus().length, kernel: release() },
  engines: context.engines(),
  cases: results,
};
mkdirSync(dirname(resultsFile), { recursive: true });
writeFileSync(resultsFile, JSON.stringify(report, null, 2) + "\n");
console.log(formatTable(report));
console.log(`\nwrote ${resultsFile}`);
process.exit(results.some((r) => r.error) ? 1 : 0);
