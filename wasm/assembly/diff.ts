// The compare step of a layer diff: merge two arrays of stat records (the "lower" and "upper" views of a tree),
// each sorted ascending by path key, and emit one change per path that was modified, added or deleted.
// The record layout is described in wasm/records.ts; offsets here must match it.

const RECORD_BYTES: usize = 64;
const KEY = 0;       // u64: path ordinal or 64-bit path hash; equal keys mean the same path
const SIZE = 8;      // f64
const MTIME_SEC = 16; // f64
const MTIME_NSEC = 24; // u32
const MODE = 28;     // u32, st_mode including the file type bits
const UID = 32;      // u32
const GID = 36;      // u32
const RDEV = 40;     // f64
const CONTENT = 48;  // u64, 0 when not computed
const XATTR = 56;    // u32, 0 when the entry has no security.capability

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;

const MODIFIED: u32 = 0;
const ADDED: u32 = 1;
const DELETED: u32 = 2;

export const recordBytes: i32 = <i32>RECORD_BYTES;

/** First free address: the caller lays out its arrays from here. */
export function heapStart(): usize {
  return (__heap_base + 15) & ~15;
}

// Directories are compared without size and mtime: both change whenever an entry inside them does, which is not a
// change of the directory itself. An mtime without nanoseconds (as tar stores it) matches on whole seconds.
function differs(a: usize, b: usize): bool {
  const mode = load<u32>(a, MODE);
  if (mode != load<u32>(b, MODE)) return true;
  if (load<u32>(a, UID) != load<u32>(b, UID) || load<u32>(a, GID) != load<u32>(b, GID)) return true;
  if (load<f64>(a, RDEV) != load<f64>(b, RDEV) || load<u32>(a, XATTR) != load<u32>(b, XATTR)) return true;
  const contentA = load<u64>(a, CONTENT);
  const contentB = load<u64>(b, CONTENT);
  if (contentA != 0 && contentB != 0 && contentA != contentB) return true;
  if ((mode & S_IFMT) == S_IFDIR) return false;
  if (load<f64>(a, SIZE) != load<f64>(b, SIZE) || load<f64>(a, MTIME_SEC) != load<f64>(b, MTIME_SEC)) return true;
  const nsecA = load<u32>(a, MTIME_NSEC);
  const nsecB = load<u32>(b, MTIME_NSEC);
  return nsecA != nsecB && nsecA != 0 && nsecB != 0;
}

@inline function emit(out: usize, count: i32, kind: u32, index: i32): void {
  const at = out + (<usize>count << 3);
  store<u32>(at, kind);
  store<u32>(at, <u32>index, 4);
}

/**
 * Writes (kind, index) pairs of u32 at `out`, in path order: index is into `upper` for modified and added entries,
 * into `lower` for deleted ones. `out` needs room for lowerCount + upperCount pairs. Returns the number of pairs.
 */
export function compare(lower: usize, lowerCount: i32, upper: usize, upperCount: i32, out: usize): i32 {
  let i: i32 = 0, j: i32 = 0, count: i32 = 0;
  while (i < lowerCount && j < upperCount) {
    const a = lower + <usize>i * RECORD_BYTES;
    const b = upper + <usize>j * RECORD_BYTES;
    const keyA = load<u64>(a, KEY);
    const keyB = load<u64>(b, KEY);
    if (keyA < keyB) {
      emit(out, count++, DELETED, i++);
    } else if (keyA > keyB) {
      emit(out, count++, ADDED, j++);
    } else {
      if (differs(a, b)) emit(out, count++, MODIFIED, j);
      i++;
      j++;
    }
  }
  while (i < lowerCount) emit(out, count++, DELETED, i++);
  while (j < upperCount) emit(out, count++, ADDED, j++);
  return count;
}
