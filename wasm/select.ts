/**
 * Which implementation of each hot path the engine uses, set from `bun run bench --only sha256,diff-compare`
 * (2 shared cores, Bun 1.4.5):
 * - SHA-256: native (Bun.CryptoHasher, SHA-NI) ~1,300 MB/s against ~170 MB/s for WASM: native, by 8x.
 * - Diff compare over 20,000 entries a side: WASM ~53 M entries/s against ~42 M for the TypeScript merge, copies into
 *   WASM memory included: WASM, by about 1.25x. Either is far faster than the lstat walk that feeds it (~415k entries/s).
 */
import { wasmDiffCompare, wasmSha256 } from "./index.ts";
import { nativeDiffCompare, nativeSha256 } from "./native.ts";
import type { DiffCompare, Hasher } from "./types.ts";

export type Implementation = "native" | "wasm";

export const hashImplementation: Implementation = "native";
export const diffCompareImplementation: Implementation = "wasm";

export function sha256(): Hasher {
  return hashImplementation === "wasm" ? wasmSha256() : nativeSha256();
}

export const diffCompare: DiffCompare = diffCompareImplementation === "wasm" ? wasmDiffCompare : nativeDiffCompare;
