/**
 * Stat records for the layer-diff compare step, shared by the native (TypeScript) and WASM compare paths.
 *
 * One record is 64 bytes, little-endian, 8-byte aligned, so it is written through a Uint32Array and a Float64Array
 * over the same buffer without BigInt on the hot path:
 *
 * | offset | type | field |
 * |---|---|---|
 * | 0  | u32 | key, low half — with the high half: a path ordinal or a 64-bit path hash; each array is sorted ascending by key, equal keys mean the same path |
 * | 4  | u32 | key, high half |
 * | 8  | f64 | size in bytes |
 * | 16 | f64 | mtime, whole seconds (floor) |
 * | 24 | u32 | mtime, nanoseconds 0..999,999,999 (0 = the file system or tar kept whole seconds only) |
 * | 28 | u32 | st_mode, file type bits included |
 * | 32 | u32 | uid |
 * | 36 | u32 | gid |
 * | 40 | f64 | rdev |
 * | 48 | u32 | content tag, low half — with the high half: a content hash, or 0 when not computed |
 * | 52 | u32 | content tag, high half |
 * | 56 | u32 | xattr tag: a hash of security.capability, or 0 when absent |
 * | 60 | u32 | reserved, 0 |
 *
 * A path counts as modified when mode, uid, gid, rdev or xattr tag differ, when both content tags are non-zero and
 * differ, or — for anything but a directory — when size or mtime differ (an mtime without nanoseconds on either side
 * compares on whole seconds). This is how moby's naive diff decides (pkg/archive/changes.go, statDifferent).
 */
import type { BigIntStats, Stats } from "node:fs";

export const RECORD_BYTES = 64;
const U32_PER_RECORD = RECORD_BYTES / 4;
const F64_PER_RECORD = RECORD_BYTES / 8;

export const U32 = { keyLo: 0, keyHi: 1, mtimeNsec: 6, mode: 7, uid: 8, gid: 9, contentLo: 12, contentHi: 13, xattr: 14 } as const;
export const F64 = { size: 1, mtimeSec: 2, rdev: 5 } as const;

/** One record's fields, for callers that do not start from an lstat result. */
export interface StatRecordFields {
  size: number;
  mtimeSec: number;
  mtimeNsec: number;
  mode: number;
  uid: number;
  gid: number;
  rdev: number;
  /** 0 when not computed; at most 2^53 when given as a number. */
  contentTag?: number | bigint;
  xattrTag?: number;
}

const NS_PER_SECOND = 1_000_000_000n;
const TWO_POW_32 = 2 ** 32;

/** A growable array of stat records. Push entries in ascending key order. */
export class StatRecords {
  private buffer: ArrayBuffer;
  private u32: Uint32Array;
  private f64: Float64Array;
  count = 0;

  constructor(capacity = 1024) {
    this.buffer = new ArrayBuffer(Math.max(1, capacity) * RECORD_BYTES);
    this.u32 = new Uint32Array(this.buffer);
    this.f64 = new Float64Array(this.buffer);
  }

  /** The records written so far, as bytes (a view, not a copy). */
  bytes(): Uint8Array {
    return new Uint8Array(this.buffer, 0, this.count * RECORD_BYTES);
  }

  /** Views over the records written so far, for readers that index fields by record * (RECORD_BYTES / width). */
  views(): { u32: Uint32Array; f64: Float64Array } {
    return { u32: this.u32, f64: this.f64 };
  }

  /**
   * Append a record from an lstat result. `{ bigint: true }` stats keep the mtime's nanoseconds exactly; plain
   * stats round them to what a double of milliseconds holds (about a quarter microsecond), identically on both sides.
   */
  pushStat(key: number, stat: Stats | BigIntStats, contentTag: number | bigint = 0, xattrTag = 0): void {
    if (typeof stat.size === "bigint") {
      const bigStat = stat as BigIntStats;
      const mtimeNs = bigStat.mtimeNs;
      let seconds = mtimeNs / NS_PER_SECOND;
      let nanos = mtimeNs % NS_PER_SECOND;
      if (nanos < 0n) {
        seconds -= 1n;
        nanos += NS_PER_SECOND;
      }
      this.push(key, {
        size: Number(bigStat.size),
        mtimeSec: Number(seconds),
        mtimeNsec: Number(nanos),
        mode: Number(bigStat.mode),
        uid: Number(bigStat.uid),
        gid: Number(bigStat.gid),
        rdev: Number(bigStat.rdev),
        contentTag,
        xattrTag,
      });
      return;
    }
    const plain = stat as Stats;
    const mtimeSec = Math.floor(plain.mtimeMs / 1000);
    const mtimeNsec = Math.min(999_999_999, Math.round((plain.mtimeMs - mtimeSec * 1000) * 1e6));
    this.push(key, { size: plain.size, mtimeSec, mtimeNsec, mode: plain.mode, uid: plain.uid, gid: plain.gid, rdev: plain.rdev, contentTag, xattrTag });
  }

  /** Append a record. `key` is a path ordinal (below 2^53); use pushKey64 for a 64-bit path hash. */
  push(key: number, fields: StatRecordFields): void {
    this.pushKey64(key % TWO_POW_32, Math.floor(key / TWO_POW_32), fields);
  }

  pushKey64(keyLo: number, keyHi: number, fields: StatRecordFields): void {
    if (this.count * RECORD_BYTES === this.buffer.byteLength) this.grow();
    const u = this.count * U32_PER_RECORD;
    const f = this.count * F64_PER_RECORD;
    this.u32[u + U32.keyLo] = keyLo;
    this.u32[u + U32.keyHi] = keyHi;
    this.f64[f + F64.size] = fields.size;
    this.f64[f + F64.mtimeSec] = fields.mtimeSec;
    this.u32[u + U32.mtimeNsec] = fields.mtimeNsec;
    this.u32[u + U32.mode] = fields.mode;
    this.u32[u + U32.uid] = fields.uid;
    this.u32[u + U32.gid] = fields.gid;
    this.f64[f + F64.rdev] = fields.rdev;
    const tag = fields.contentTag ?? 0;
    if (typeof tag === "bigint") {
      this.u32[u + U32.contentLo] = Number(tag & 0xffffffffn);
      this.u32[u + U32.contentHi] = Number((tag >> 32n) & 0xffffffffn);
    } else {
      this.u32[u + U32.contentLo] = tag % TWO_POW_32;
      this.u32[u + U32.contentHi] = Math.floor(tag / TWO_POW_32);
    }
    this.u32[u + U32.xattr] = fields.xattrTag ?? 0;
    this.count++;
  }

  private grow(): void {
    const larger = new ArrayBuffer(this.buffer.byteLength * 2);
    new Uint8Array(larger).set(new Uint8Array(this.buffer));
    this.buffer = larger;
    this.u32 = new Uint32Array(larger);
    this.f64 = new Float64Array(larger);
  }
}
