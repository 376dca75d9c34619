#!/usr/bin/env bun
/**
 * Compile the AssemblyScript sources in wasm/assembly to wasm/build/<name>.wasm (asc -O3 --runtime stub).
 * The outputs are committed, so building the executable does not need asc; test/wasm.test.ts checks they are current.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";

export const WASM_MODULES = ["sha256", "diff"] as const;
export type WasmModuleName = (typeof WASM_MODULES)[number];

const ROOT = join(import.meta.dir, "..");
export const WASM_BUILD_DIR = join(import.meta.dir, "build");

/** The part of asc's API we use. Typed here because asc's own .d.ts pulls AssemblyScript's std globals
 * (a `console` without `error`, …) into the whole program. */
interface AscCompiler {
  main(
    argv: string[],
    options: {
      writeFile(file: string, contents: string | Uint8Array): void;
      stdout: { write(chunk: string | Uint8Array): boolean };
      stderr: { write(chunk: string | Uint8Array): boolean };
    },
  ): Promise<{ error: Error | null }>;
}

export async function compileWasm(name: WasmModuleName): Promise<Uint8Array> {
  const ascModule: string = "assemblyscript/asc";
  const asc = ((await import(ascModule)) as { default: AscCompiler }).default;
  const source = relative(ROOT, join(import.meta.dir, "assembly", `${name}.ts`));
  let binary: Uint8Array | undefined;
  const errors: string[] = [];
  const result = await asc.main([source, "-O3", "--runtime", "stub", "--outFile", `${name}.wasm`, "--baseDir", ROOT], {
    writeFile: (_file, contents) => {
      binary = typeof contents === "string" ? new TextEncoder().encode(contents) : contents;
    },
    stdout: { write: () => true },
    stderr: { write: (chunk: string | Uint8Array) => errors.push(String(chunk)) > 0 },
  });
  if (result.error || !binary) throw new Error(`asc ${source}: ${result.error?.message ?? "no output"}\n${errors.join("")}`);
  return binary;
}

if (import.meta.main) {
  mkdirSync(WASM_BUILD_DIR, { recursive: true });
  for (const name of WASM_MODULES) {
    const binary = await compileWasm(name);
    writeFileSync(join(WASM_BUILD_DIR, `${name}.wasm`), binary);
    console.log(`wasm/build/${name}.wasm: ${binary.length} bytes`);
  }
}
