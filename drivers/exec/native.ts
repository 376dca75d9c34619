/**
 * Compiles the C launcher (native/*.c, one compilation unit) once per process with bun:ffi's TinyCC. In a
 * `--compile` binary the embedded sources live in $bunfs, which TinyCC cannot open, so they are
 * concatenated into a memfd and compiled from /proc/self/fd/N.
 */
import { cc, ptr } from "bun:ffi";
import { readFileSync, writeSync } from "node:fs";
import { close, memfdCreate } from "../libc/libc";
import { BLOB_MAGIC } from "./wire";
import { ERROR_RECORD_SIZE } from "./errors";
import preludeC from "./native/prelude.c" with { type: "file" };
import rootfsC from "./native/rootfs.c" with { type: "file" };
import processC from "./native/process.c" with { type: "file" };
import spawnC from "./native/spawn.c" with { type: "file" };

/** In dependency order: each part uses only what the parts before it declare. */
const SOURCES: [name: string, path: string][] = [
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

function compile(): Launcher {
  const fd = memfdCreate("bunker-launcher.c");
  let lib;
  try {
    // #line keeps TinyCC's error messages pointing at the original file and line.
    writeSync(fd, SOURCES.map(([name, path]) => `#line 1 "${name}"\n${readFileSync(path, "utf8")}`).join("\n"));
    lib = cc({ source: `/proc/self/fd/${fd}`, symbols });
  } finally {
    close(fd);
  }
  const s = lib.symbols;
  const abi = s.bk_abi() >>> 0;
  if (abi !== (BLOB_MAGIC ^ ERROR_RECORD_SIZE) >>> 0) throw new LauncherBuildError(`launcher ABI mismatch (${abi.toString(16)})`);
  return {
    spawn: (blob, timeoutMs, out, error) => s.bk_spawn(ptr(blob), blob.length, timeoutMs, ptr(out), ptr(error)),
    release: (pid, channel, timeoutMs, ptyMaster, error) => s.bk_release(pid, channel, timeoutMs, ptr(ptyMaster), ptr(error)),
    abort: (pid, channel) => s.bk_abort(pid, channel),
  };
}
