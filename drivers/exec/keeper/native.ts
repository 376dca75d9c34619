/**
 * The keeper's C: the launcher's sources (the very code that clones and sets up containers) followed by
 * the keeper's own parts, compiled as one unit by bun:ffi's TinyCC. Only `keeper_start` is called from
 * here; everything else runs in the keeper process.
 */
import { ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { compileUnit, LAUNCHER_SOURCES } from "../native";
import baseC from "./native/base.c" with { type: "file" };
import slimC from "./native/slim.c" with { type: "file" };
import logsC from "./native/logs.c" with { type: "file" };
import recordsC from "./native/records.c" with { type: "file" };
import protocolC from "./native/protocol.c" with { type: "file" };
import mainC from "./native/main.c" with { type: "file" };

const KEEPER_SOURCES: readonly (readonly [string, string])[] = [
  ...LAUNCHER_SOURCES,
  ["keeper/base.c", baseC],
  ["keeper/slim.c", slimC],
  ["keeper/logs.c", logsC],
  ["keeper/records.c", recordsC],
  ["keeper/protocol.c", protocolC],
  ["keeper/main.c", mainC],
];

const symbols = {
  keeper_start: { args: ["ptr", "ptr", "i32", "ptr"], returns: "i32" },
  keeper_abi: { args: [], returns: "i32" },
} as const;

/** The protocol this client speaks, and the oldest keeper protocol it still understands. */
export const CLIENT_PROTO = 1;
export const CLIENT_MINPROTO = 1;
const START_REPORT_SIZE = 16;

/** `enum start_stage` in native/main.c. */
const STAGES = [
  "ok", "stack", "pipe", "clone", "timeout", "state-dir", "log", "lock", "locked", "socket", "bind", "listen",
  "signalfd", "pidfile", "devnull", "buffers",
] as const;
export type StartStage = (typeof STAGES)[number];

export type StartResult =
  | { started: true; pid: number; slimmed: boolean }
  | { started: false; stage: StartStage; errno: number };

export interface KeeperNative {
  /** Fork a keeper for `stateDir` (blocks ~2 ms until it listens). Stage "locked": one runs already. */
  start(stateDir: string, build: string, options: { slim: boolean }): StartResult;
}

export class KeeperBuildError extends Error {
  override name = "KeeperBuildError";
}

let native: KeeperNative | undefined;
let sourceDigest: string | undefined;

/** The compiled keeper (compiled on first use, ~10 ms). */
export function loadKeeperNative(): KeeperNative {
  native ??= compile();
  return native;
}

/** A digest of the C the keeper runs: part of its build id, so a restarted daemon can tell. */
export function keeperSourceDigest(): string {
  sourceDigest ??= new Bun.CryptoHasher("sha256").update(KEEPER_SOURCES.map(([, path]) => readFileSync(path, "utf8")).join("\0")).digest("hex").slice(0, 12);
  return sourceDigest;
}

function compile(): KeeperNative {
  const lib = compileUnit("bunker-keeper.c", KEEPER_SOURCES, symbols);
  const s = lib.symbols;
  if (s.keeper_abi() !== ((CLIENT_PROTO << 16) | START_REPORT_SIZE)) throw new KeeperBuildError(`keeper ABI mismatch (${s.keeper_abi().toString(16)})`);
  return {
    start(stateDir, build, options) {
      const out = new Int32Array(4);
      const dir = Buffer.from(`${stateDir}\0`);
      const id = Buffer.from(`${build}\0`);
      const pid = s.keeper_start(ptr(dir), ptr(id), options.slim ? 1 : 0, ptr(out));
      if (pid > 0) return { started: true, pid, slimmed: out[3] === 1 };
      return { started: false, stage: STAGES[out[1]!] ?? "ok", errno: out[2]! };
    },
  };
}
