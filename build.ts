#!/usr/bin/env bun
/**
 * Compile the CLI + daemon into one executable, dist/bunker. Worker files must be listed as extra
 * entrypoints or the binary exits silently at `new Worker` (bun-facts.md Q6).
 */
import { $ } from "bun";

export const WORKER_ENTRYPOINTS: string[] = ["drivers/exec/exit-worker.ts"];

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = (await $`git status --porcelain`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const defines = [
  `--define=process.env.BUNKER_GIT_COMMIT=${JSON.stringify(commit + dirty)}`,
  `--define=process.env.BUNKER_BUILD_TIME=${JSON.stringify(new Date().toISOString())}`,
];
const started = performance.now();
const result = await $`bun build --compile --minify --bytecode ${defines} ./src/main.ts ${WORKER_ENTRYPOINTS} --outfile dist/bunker`.nothrow();
if (result.exitCode !== 0) process.exit(result.exitCode);
console.log(`built dist/bunker (${commit}${dirty}) in ${Math.round(performance.now() - started)} ms`);
