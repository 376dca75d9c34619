/**
 * Compiles the C launcher (native/*.c, one compilation unit) once per process with bun:ffi's TinyCC. In a
 * `--compile` binary the embedded sources live in $bunfs, which TinyCC cannot open, so they are
 * concatenated into a memfd and compiled from /proc/self/fd/N.
 */
import { cc, ptr, type FFIFunction } from "bun:ffi";
import { readFileSync, writeSync } from "node:fs";
import { close, memfdCreate } from "../libc/libc";
import { BLOB_MAGIC } from "./wire";
import { ERROR_RECORD_SIZE } from "./errors";
import preludeC from "./native/prelude.c" with { type: "file" };
import rootfsC from "./native/rootfs.c" with { type: "file" };
import processC from "./native/process.c" with { type: "file" };
import spawnC from "./native/spawn.c" with { type: "file" };

/** In dependency order: each part uses only what the parts before it declare. The keeper appends its own. */
export const LAUNCHER_SOURCES: readonly (readonly [name: string, path: string])[] = [
  ["prelude.c", preludeC],
  ["rootfs.c", rootfsC],
  ["process.c", processC],
  ["spawn.c", spawnC],
];

const symbols = {
  bk_spawn: { args: ["ptr", "u32", "i32", "ptr", "ptr"], returns: "i32" },
  bk_release: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  bk_abort: { args: ["i32", "i32"], returns: "void" },
  bk_abi: { args: [], returns: "i32" },
} as const;

/** Slots of the `out` array filled by bk_spawn (enum out_slot in prelude.c). */
export const SpawnOut = { PID: 0, PIDFD: 1, CHANNEL: 2, STDIN: 3, STDOUT: 4, STDERR: 5, COUNT: 6 } as const;

export interface Launcher {
  /** clone + (for exec) the intermediate's report; 0 or -1 with `error` filled. */
  spawn(blob: Uint8Array, timeoutMs: number, out: Int32Array, error: Uint8Array): number;
  /** Release the child and wait for execve; 0 or -1 with `error` filled. */
  release(pid: number, channel: number, timeoutMs: number, ptyMaster: Int32Array, error: Uint8Array): number;
  /** Kill a child that was never released and close its channel. */
  abort(pid: number, channel: number): void;
}

export class LauncherBuildError extends Error {
  override name = "LauncherBuildError";
}

let launcher: Launcher | undefined;

/** The compiled launcher (compiled on first use, ~7 ms). */
export function loadLauncher(): Launcher {
  launcher ??= compile();
  return launcher;
}

/**
 * Compile C parts (name, embedded path) as one unit. Via a memfd because TinyCC cannot open $bunfs paths;
 * `#line` keeps its error messages pointing at the original file and line.
 */
export function compileUnit<Fns extends Record<string, FFIFunction>>(unitName: string, sources: readonly (readonly [string, string])[], fns: Fns) {
  const fd = memfdCreate(unitName);
  try {
    writeSync(fd, sources.map(([name, path]) => `#line 1 "${name}"\n${readFileSync(path, "utf8")}`).join("\n"));
    return cc({ source: `/proc/self/fd/${fd}`, symbols: fns });
  } finally {
    close(fd);
  }
}

function compile(): Launcher {
  const lib = compileUnit("bunker-launcher.c", LAUNCHER_SOURCES, symbols);
  const s = lib.symbols;
  const abi = s.bk_abi() >>> 0;
  if (abi !== (BLOB_MAGIC ^ ERROR_RECORD_SIZE) >>> 0) throw new LauncherBuildError(`launcher ABI mismatch (${abi.toString(16)})`);
  return {
    spawn: (blob, timeoutMs, out, error) => s.bk_spawn(ptr(blob), blob.length, timeoutMs, ptr(out), ptr(error)),
    release: (pid, channel, timeoutMs, ptyMaster, error) => s.bk_release(pid, channel, timeoutMs, ptr(ptyMaster), ptr(error)),
    abort: (pid, channel) => s.bk_abort(pid, channel),
  };
}
