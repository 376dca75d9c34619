// SHA-256 (FIPS 180-4) with a streaming interface over this module's linear memory.
// One instance hashes one stream: the caller writes bytes at dataPtr() and calls update(len), as often as it likes,
// then final() and reads the 32-byte digest at the returned pointer. init() starts a new stream.

const K = memory.data<u32>([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const W = memory.data(64 * 4, 16);
const PENDING = memory.data(64, 16);
const DIGEST = memory.data(32, 16);

let h0: u32, h1: u32, h2: u32, h3: u32, h4: u32, h5: u32, h6: u32, h7: u32;
let pendingLength: i32 = 0;
let totalLength: u64 = 0;

/** Where the caller puts input; everything from here to the end of memory is free for it. */
export function dataPtr(): usize {
  return (__heap_base + 15) & ~15;
}

export function init(): void {
  h0 = 0x6a09e667; h1 = 0xbb67ae85; h2 = 0x3c6ef372; h3 = 0xa54ff53a;
  h4 = 0x510e527f; h5 = 0x9b05688c; h6 = 0x1f83d9ab; h7 = 0x5be0cd19;
  pendingLength = 0;
  totalLength = 0;
}

@inline function sigma0(x: u32): u32 { return rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3); }
@inline function sigma1(x: u32): u32 { return rotr(x, 17) ^ rotr(x, 19) ^ (x >>> 10); }

function compress(block: usize): void {
  for (let i: usize = 0; i < 16; i++) {
    store<u32>(W + (i << 2), bswap(load<u32>(block + (i << 2))));
  }
  for (let i: usize = 16; i < 64; i++) {
    const p = W + (i << 2);
    store<u32>(p, sigma1(load<u32>(p - 8)) + load<u32>(p - 28) + sigma0(load<u32>(p - 60)) + load<u32>(p - 64));
  }
  let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
  for (let i: usize = 0; i < 256; i += 4) {
    const t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + load<u32>(K + i) + load<u32>(W + i);
    const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  h0 += a; h1 += b; h2 += c; h3 += d; h4 += e; h5 += f; h6 += g; h7 += h;
}

/** Hash `length` bytes at `ptr`. */
export function update(ptr: usize, length: i32): void {
  totalLength += <u64>length;
  let offset: i32 = 0;
  if (pendingLength > 0) {
    const take = min(64 - pendingLength, length);
    memory.copy(PENDING + pendingLength, ptr, take);
    pendingLength += take;
    offset = take;
    if (pendingLength < 64) return;
    compress(PENDING);
    pendingLength = 0;
  }
  while (length - offset >= 64) {
    compress(ptr + offset);
    offset += 64;
  }
  if (offset < length) {
    memory.copy(PENDING, ptr + offset, length - offset);
    pendingLength = length - offset;
  }
}

/** Finish the stream; returns the address of the 32-byte digest. */
export function final(): usize {
  const bitLength = totalLength << 3;
  store<u8>(PENDING + pendingLength, 0x80);
  pendingLength++;
  if (pendingLength > 56) {
    memory.fill(PENDING + pendingLength, 0, 64 - pendingLength);
    compress(PENDING);
    pendingLength = 0;
  }
  memory.fill(PENDING + pendingLength, 0, 56 - pendingLength);
  store<u64>(PENDING + 56, bswap(bitLength));
  compress(PENDING);
  store<u32>(DIGEST, bswap(h0)); store<u32>(DIGEST, bswap(h1), 4);
  store<u32>(DIGEST, bswap(h2), 8); store<u32>(DIGEST, bswap(h3), 12);
  store<u32>(DIGEST, bswap(h4), 16); store<u32>(DIGEST, bswap(h5), 20);
  store<u32>(DIGEST, bswap(h6), 24); store<u32>(DIGEST, bswap(h7), 28);
  return DIGEST;
}
