/**
 * The WASM-vs-native table behind wasm/select.ts: SHA-256 throughput (1 MiB chunks) and the layer-diff compare step
 * (20,000 entries a side). "bunker" is the native path, the peer is the WASM one. Samples of the two alternate, so
 * drift from other load on the machine hits both alike.
 */
import { wasmDiffCompare, wasmSha256 } from "../../wasm/index.ts";
import { nativeDiffCompare, nativeSha256 } from "../../wasm/native.ts";
import { StatRecords } from "../../wasm/records.ts";
import type { DiffCompare, Hasher } from "../../wasm/types.ts";
import { compareFigures, summarize } from "../stats.ts";
import type { BenchCase, Figure } from "../types.ts";

const MIB = 1024 * 1024;
const DIFF_ENTRIES = 20_000;
const COMPARES_PER_SAMPLE = 20;

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  return bytes;
}

function hashThroughput(newHasher: () => Hasher, chunk: Uint8Array, chunks: number): { mbPerSecond: number; digest: string } {
  const started = performance.now();
  const hasher = newHasher();
  for (let i = 0; i < chunks; i++) hasher.update(chunk);
  const digest = hasher.digestHex();
  const seconds = (performance.now() - started) / 1000;
  return { mbPerSecond: (chunk.length * chunks) / 1e6 / seconds, digest };
}

function sha256Figure(quick: boolean): Figure {
  const chunk = randomBytes(MIB);
  const chunks = quick ? 64 : 256;
  const rounds = quick ? 3 : 5;
  hashThroughput(nativeSha256, chunk, 16);
  hashThroughput(wasmSha256, chunk, 16);
  const native: number[] = [];
  const wasm: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const a = hashThroughput(nativeSha256, chunk, chunks);
    const b = hashThroughput(wasmSha256, chunk, chunks);
    if (a.digest !== b.digest) throw new Error(`sha256 digests differ: native ${a.digest}, wasm ${b.digest}`);
    native.push(a.mbPerSecond);
    wasm.push(b.mbPerSecond);
  }
  return compareFigures(`sha256 ${chunks} MiB in 1 MiB chunks: native vs wasm`, "MB/s", "higher", summarize(native), { name: "wasm", ...summarize(wasm) });
}

/**
 * Two views of a 20,000-entry tree as a layer diff sees them: about 5 % of the files modified (size, mtime, mode or
 * owner), 2 % deleted and 2 % added, one entry in ten a directory.
 */
function syntheticViews(): { lower: StatRecords; upper: StatRecords } {
  let seed = 0x9e3779b9;
  const random = () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return seed / 2 ** 32;
  };
  const lower = new StatRecords(DIFF_ENTRIES);
  const upper = new StatRecords(DIFF_ENTRIES);
  let key = 0;
  while (lower.count < DIFF_ENTRIES || upper.count < DIFF_ENTRIES) {
    key++;
    const directory = random() < 0.1;
    const entry = {
      size: directory ? 4096 : Math.floor(random() * 1e6),
      mtimeSec: 1_700_000_000 + Math.floor(random() * 1e7),
      mtimeNsec: Math.floor(random() * 1e9),
      mode: directory ? 0o040755 : 0o100644,
      uid: 0,
      gid: 0,
      rdev: 0,
    };
    const roll = random();
    if (roll < 0.02) {
      if (lower.count < DIFF_ENTRIES) lower.push(key, entry);
    } else if (roll < 0.04) {
      if (upper.count < DIFF_ENTRIES) upper.push(key, entry);
    } else if (lower.count < DIFF_ENTRIES && upper.count < DIFF_ENTRIES) {
      lower.push(key, entry);
      const modified = roll < 0.09;
      upper.push(key, modified ? { ...entry, size: entry.size + 1, mtimeNsec: (entry.mtimeNsec + 1) % 1e9 } : entry);
    }
  }
  return { lower, upper };
}

function compareThroughput(compare: DiffCompare, lower: StatRecords, upper: StatRecords): number {
  const started = performance.now();
  for (let i = 0; i < COMPARES_PER_SAMPLE; i++) compare(lower, upper);
  return (DIFF_ENTRIES * COMPARES_PER_SAMPLE) / ((performance.now() - started) / 1000);
}

function diffFigure(quick: boolean): Figure {
  const { lower, upper } = syntheticViews();
  const expected = nativeDiffCompare(lower, upper);
  const actual = wasmDiffCompare(lower, upper);
  if (expected.length !== actual.length || expected.some((value, i) => value !== actual[i])) throw new Error("diff compare: wasm and native disagree");
  const samples = quick ? 15 : 60;
  for (let i = 0; i < 5; i++) {
    compareThroughput(nativeDiffCompare, lower, upper);
    compareThroughput(wasmDiffCompare, lower, upper);
  }
  const native: number[] = [];
  const wasm: number[] = [];
  for (let i = 0; i < samples; i++) {
    native.push(compareThroughput(nativeDiffCompare, lower, upper));
    wasm.push(compareThroughput(wasmDiffCompare, lower, upper));
  }
  return compareFigures(`diff compare ${DIFF_ENTRIES} entries: native vs wasm`, "entries/s", "higher", summarize(native), { name: "wasm", ...summarize(wasm) });
}

export const sha256Case: BenchCase = {
  name: "sha256",
  run: async (context) => [sha256Figure(context.quick)],
};

export const diffCompareCase: BenchCase = {
  name: "diff-compare",
  run: async (context) => [diffFigure(context.quick)],
};
