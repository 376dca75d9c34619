#!/usr/bin/env bun
/**
 * Compile the CLI + daemon into one executable, dist/bunker. Worker files must be listed as extra
 * entrypoints or the binary exits silently at `new Worker` (bun-facts.md Q6).
 *
 * The AssemblyScript in wasm/assembly is compiled first, so the .wasm embedded in the binary always matches its
 * sources; a wasm/build file is rewritten only when its content changed (test/wasm.test.ts checks the committed
 * ones are current).
 *
 * The bytecode is laid out by scripts/bytecode-order.txt (scripts/bytecode-order.sh records it from a daemon doing the
 * memory benchmark's work): the functions a daemon runs sit together at the front, so it maps fewer pages of the
 * binary (2.5 MiB less resident). A function missing from the profile (new or changed since) only goes to the back.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { $ } from "bun";
import { compileWasm, WASM_BUILD_DIR, WASM_MODULES } from "./wasm/build.ts";

export const WORKER_ENTRYPOINTS: string[] = ["drivers/exec/exit-worker.ts"];
const BYTECODE_ORDER = "scripts/bytecode-order.txt";
/** docker-init (`docker run --init`): static, since containers have no libc of ours; embedded by drivers/exec/init/binary.ts. */
const INIT_SOURCE = "drivers/exec/init/init.c";
const INIT_ARTEFACT = "dist/docker-init";

const commit = (await $`git rev-parse --short HEAD`.nothrow().quiet().text()).trim() || "unknown";
const dirty = (await $`git status --porcelain`.nothrow().quiet().text()).trim() ? "-dirty" : "";
const defines = [
  `--define=process.env.BUNKER_GIT_COMMIT=${JSON.stringify(commit + dirty)}`,
  `--define=process.env.BUNKER_BUILD_TIME=${JSON.stringify(new Date().toISOString())}`,
];
const started = performance.now();
mkdirSync(WASM_BUILD_DIR, { recursive: true });
for (const name of WASM_MODULES) {
  const binary = await compileWasm(name);
  const file = join(WASM_BUILD_DIR, `${name}.wasm`);
  if (existsSync(file) && Buffer.from(binary).equals(readFileSync(file))) continue;
  writeFileSync(file, binary);
  console.log(`wasm/build/${name}.wasm rebuilt from its source (${binary.length} bytes)`);
}
mkdirSync("dist", { recursive: true });
const init = await $`cc -static -Os -s -Wall -o ${INIT_ARTEFACT} ${INIT_SOURCE}`.nothrow();
if (init.exitCode !== 0) process.exit(init.exitCode);
// ESM with code splitting: a module reached only through `await import()` is a chunk of its own, loaded (with
// the node: built-ins it imports) when that import runs, so the daemon holds none of the client commands' code.
const order = existsSync(BYTECODE_ORDER) ? [`--bytecode-order=${BYTECODE_ORDER}`] : [];
const result = await $`bun build --compile --minify --bytecode --format=esm --splitting ${order} ${defines} ./src/main.ts ${WORKER_ENTRYPOINTS} --outfile dist/bunker`.nothrow();
if (result.exitCode !== 0) process.exit(result.exitCode);
console.log(`built dist/bunker (${commit}${dirty}) in ${Math.round(performance.now() - started)} ms`);
