/**
 * The WASM implementations of the hot paths, loaded from the committed binaries in wasm/build (embedded in the
 * compiled executable through the file imports). Same shapes as the native paths in native.ts.
 */
import { readFileSync } from "node:fs";
import sha256Wasm from "./build/sha256.wasm" with { type: "file" };
import diffWasm from "./build/diff.wasm" with { type: "file" };
import { RECORD_BYTES, type StatRecords } from "./records.ts";
import type { DiffChanges, Hasher } from "./types.ts";

interface Sha256Exports {
  memory: WebAssembly.Memory;
  dataPtr(): number;
  init(): void;
  update(ptr: number, length: number): void;
  final(): number;
}

interface DiffExports {
  memory: WebAssembly.Memory;
  recordBytes: WebAssembly.Global;
  heapStart(): number;
  compare(lower: number, lowerCount: number, upper: number, upperCount: number, out: number): number;
}

const PAGE_BYTES = 65536;
/** Input is copied into the instance's memory this many bytes at a time. */
const SHA256_CHUNK_BYTES = 64 * 1024;
const DIGEST_BYTES = 32;

const modules = new Map<string, WebAssembly.Module>();

function instantiate(path: string): WebAssembly.Instance["exports"] {
  let module = modules.get(path);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(path));
    modules.set(path, module);
  }
  return new WebAssembly.Instance(module).exports;
}

function ensureMemory(memory: WebAssembly.Memory, bytes: number): void {
  const missing = bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / PAGE_BYTES));
}

const utf8 = new TextEncoder();

/** Instances whose stream has ended; creating one costs about a millisecond, reusing one nothing. */
const idleSha256: Sha256Exports[] = [];
/** Each holds two 64 KiB pages; keep no more than a few concurrent pulls need. */
const MAX_IDLE_SHA256 = 8;

function sha256Instance(): Sha256Exports {
  const idle = idleSha256.pop();
  if (idle) return idle;
  const wasm = instantiate(sha256Wasm) as unknown as Sha256Exports;
  ensureMemory(wasm.memory, wasm.dataPtr() + SHA256_CHUNK_BYTES);
  return wasm;
}

/** A streaming SHA-256 on a WASM instance of its own until digest() hands the instance back. */
export function wasmSha256(): Hasher {
  const wasm = sha256Instance();
  const dataPtr = wasm.dataPtr();
  const input = new Uint8Array(wasm.memory.buffer, dataPtr, SHA256_CHUNK_BYTES);
  wasm.init();
  let digest: Uint8Array | undefined;
  const hasher: Hasher = {
    update(data) {
      if (digest) throw new Error("sha256: update after digest");
      const bytes = typeof data === "string" ? utf8.encode(data) : data;
      for (let offset = 0; offset < bytes.length; offset += SHA256_CHUNK_BYTES) {
        const piece = bytes.subarray(offset, offset + SHA256_CHUNK_BYTES);
        input.set(piece);
        wasm.update(dataPtr, piece.length);
      }
      return hasher;
    },
    digest() {
      if (!digest) {
        const at = wasm.final();
        digest = new Uint8Array(wasm.memory.buffer.slice(at, at + DIGEST_BYTES));
        if (idleSha256.length < MAX_IDLE_SHA256) idleSha256.push(wasm);
      }
      return digest;
    },
    digestHex: () => Buffer.from(hasher.digest()).toString("hex"),
  };
  return hasher;
}

let diffInstance: DiffExports | undefined;

function diffExports(): DiffExports {
  if (!diffInstance) {
    const wasm = instantiate(diffWasm) as unknown as DiffExports;
    if (wasm.recordBytes.value !== RECORD_BYTES) {
      throw new Error(`wasm/build/diff.wasm has ${wasm.recordBytes.value}-byte records, records.ts ${RECORD_BYTES}: rebuild with bun run wasm/build.ts`);
    }
    diffInstance = wasm;
  }
  return diffInstance;
}

/** The diff compare step in WASM; copies both record arrays into one shared instance, whose memory keeps its peak size. */
export function wasmDiffCompare(lower: StatRecords, upper: StatRecords): DiffChanges {
  const wasm = diffExports();
  const lowerBytes = lower.bytes();
  const upperBytes = upper.bytes();
  const lowerAt = wasm.heapStart();
  const upperAt = lowerAt + lowerBytes.length;
  const outAt = upperAt + upperBytes.length;
  ensureMemory(wasm.memory, outAt + 8 * (lower.count + upper.count));
  const memory = new Uint8Array(wasm.memory.buffer);
  memory.set(lowerBytes, lowerAt);
  memory.set(upperBytes, upperAt);
  const pairs = wasm.compare(lowerAt, lower.count, upperAt, upper.count, outAt);
  return new Uint32Array(wasm.memory.buffer.slice(outAt, outAt + 8 * pairs));
}
