/** The native implementations of the hot paths: SHA-256 through Bun's crypto (SHA-NI), the diff compare in TypeScript. */
import { F64, RECORD_BYTES, U32, type StatRecords } from "./records.ts";
import { ChangeKind, type DiffChanges, type Hasher } from "./types.ts";

export function nativeSha256(): Hasher {
  const inner = new Bun.CryptoHasher("sha256");
  let digest: Uint8Array | undefined;
  const hasher: Hasher = {
    update(data) {
      if (digest) throw new Error("sha256: update after digest");
      inner.update(data);
      return hasher;
    },
    digest() {
      digest ??= new Uint8Array(inner.digest());
      return digest;
    },
    digestHex: () => Buffer.from(hasher.digest()).toString("hex"),
  };
  return hasher;
}

const U32_PER_RECORD = RECORD_BYTES / 4;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

/** The rule documented in records.ts, over the records at u32 offsets `a` (lower) and `b` (upper). */
function differs(lu: Uint32Array, lf: Float64Array, a: number, uu: Uint32Array, uf: Float64Array, b: number): boolean {
  const mode = lu[a + U32.mode]!;
  if (mode !== uu[b + U32.mode]) return true;
  if (lu[a + U32.uid] !== uu[b + U32.uid] || lu[a + U32.gid] !== uu[b + U32.gid]) return true;
  const af = a >> 1, bf = b >> 1; // the same record's index in 8-byte units
  if (lf[af + F64.rdev] !== uf[bf + F64.rdev] || lu[a + U32.xattr] !== uu[b + U32.xattr]) return true;
  const contentLoA = lu[a + U32.contentLo]!, contentHiA = lu[a + U32.contentHi]!;
  const contentLoB = uu[b + U32.contentLo]!, contentHiB = uu[b + U32.contentHi]!;
  if ((contentLoA | contentHiA) !== 0 && (contentLoB | contentHiB) !== 0 && (contentLoA !== contentLoB || contentHiA !== contentHiB)) return true;
  if ((mode & S_IFMT) === S_IFDIR) return false;
  if (lf[af + F64.size] !== uf[bf + F64.size] || lf[af + F64.mtimeSec] !== uf[bf + F64.mtimeSec]) return true;
  const nsecA = lu[a + U32.mtimeNsec]!, nsecB = uu[b + U32.mtimeNsec]!;
  return nsecA !== nsecB && nsecA !== 0 && nsecB !== 0;
}

/** Output is collected here and copied out at its final size, as the WASM path does with its memory. */
let scratch = new Uint32Array(0);

export function nativeDiffCompare(lower: StatRecords, upper: StatRecords): DiffChanges {
  const { u32: lu, f64: lf } = lower.views();
  const { u32: uu, f64: uf } = upper.views();
  const lowerCount = lower.count, upperCount = upper.count;
  const needed = 2 * (lowerCount + upperCount);
  if (scratch.length < needed) scratch = new Uint32Array(needed);
  const out = scratch;
  let i = 0, j = 0, n = 0;
  while (i < lowerCount && j < upperCount) {
    const a = i * U32_PER_RECORD, b = j * U32_PER_RECORD;
    const hiA = lu[a + U32.keyHi]!, hiB = uu[b + U32.keyHi]!;
    const loA = lu[a + U32.keyLo]!, loB = uu[b + U32.keyLo]!;
    if (hiA < hiB || (hiA === hiB && loA < loB)) {
      out[n++] = ChangeKind.Deleted;
      out[n++] = i++;
    } else if (hiA > hiB || loA > loB) {
      out[n++] = ChangeKind.Added;
      out[n++] = j++;
    } else {
      if (differs(lu, lf, a, uu, uf, b)) {
        out[n++] = ChangeKind.Modified;
        out[n++] = j;
      }
      i++;
      j++;
    }
  }
  for (; i < lowerCount; i++) {
    out[n++] = ChangeKind.Deleted;
    out[n++] = i;
  }
  for (; j < upperCount; j++) {
    out[n++] = ChangeKind.Added;
    out[n++] = j;
  }
  return out.slice(0, n);
}
