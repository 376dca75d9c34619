/**
 * The WASM hot paths against the native ones: SHA-256 on the NIST vectors and on randomly split streams, the diff
 * compare step on randomized trees and on real lstat results; the committed .wasm files match their sources; the
 * binaries load from inside a compiled executable.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, lstatSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { compileWasm, WASM_BUILD_DIR, WASM_MODULES } from "../wasm/build.ts";
import { wasmDiffCompare, wasmSha256 } from "../wasm/index.ts";
import { nativeDiffCompare, nativeSha256 } from "../wasm/native.ts";
import { StatRecords, type StatRecordFields } from "../wasm/records.ts";
import { diffCompare, sha256 } from "../wasm/select.ts";
import { ChangeKind, type Hasher } from "../wasm/types.ts";

const scratch = mkdtempSync(join(tmpdir(), "bunker-wasm-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Deterministic so a failure can be replayed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

const HASHERS: [string, () => Hasher][] = [
  ["native", nativeSha256],
  ["wasm", wasmSha256],
];

describe("committed wasm binaries", () => {
  for (const name of WASM_MODULES) {
    test(`wasm/build/${name}.wasm is what wasm/assembly/${name}.ts compiles to`, async () => {
      const fresh = await compileWasm(name);
      const committed = readFileSync(join(WASM_BUILD_DIR, `${name}.wasm`));
      expect(Buffer.compare(Buffer.from(fresh), committed), `run: bun run wasm/build.ts`).toBe(0);
    });
  }
});

describe("sha256", () => {
  const million = "a".repeat(1_000_000);
  const NIST: [string, string][] = [
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
    [
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
    [million, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"],
  ];

  for (const [name, hasher] of HASHERS) {
    test(`${name}: NIST vectors, empty input included`, () => {
      for (const [input, digest] of NIST) expect(hasher().update(input).digestHex()).toBe(digest);
      expect(hasher().digestHex()).toBe(NIST[0]![1]);
    });

    test(`${name}: one million 'a' fed one byte, then 1000 bytes, at a time`, () => {
      const bytes = Buffer.from(million);
      const byteWise = hasher();
      for (let i = 0; i < 200_000; i++) byteWise.update(bytes.subarray(i, i + 1));
      byteWise.update(bytes.subarray(200_000));
      expect(byteWise.digestHex()).toBe(NIST[4]![1]);
      const chunked = hasher();
      for (let i = 0; i < bytes.length; i += 1000) chunked.update(bytes.subarray(i, i + 1000));
      expect(Buffer.from(chunked.digest()).toString("hex")).toBe(NIST[4]![1]);
    });
  }

  test("wasm matches native at every length around the padding boundaries", () => {
    const random = seededRandom(1);
    const data = randomBytes(random, 300);
    for (let length = 0; length <= 300; length++) {
      const input = data.subarray(0, length);
      expect(wasmSha256().update(input).digestHex()).toBe(nativeSha256().update(input).digestHex());
    }
  });

  test("wasm matches native on randomly split streams, empty and larger-than-buffer pieces included", () => {
    const random = seededRandom(2);
    for (let round = 0; round < 20; round++) {
      const data = randomBytes(random, Math.floor(random() * 300_000));
      const wasm = wasmSha256();
      let offset = 0;
      while (offset < data.length) {
        const kind = random();
        const size = kind < 0.1 ? 0 : kind < 0.3 ? 1 + Math.floor(random() * 130) : Math.floor(random() * 150_000);
        wasm.update(data.subarray(offset, offset + size));
        offset += size;
      }
      expect(wasm.digestHex()).toBe(nativeSha256().update(data).digestHex());
    }
  });

  test("wasm hashers interleave, and a finished hasher's instance serves the next one", () => {
    const first = wasmSha256().update("ab");
    const second = wasmSha256().update("abcdbcdecdefdefgefghfghighij");
    first.update("c");
    expect(first.digestHex()).toBe(nativeSha256().update("abc").digestHex());
    const third = wasmSha256().update("x".repeat(100));
    second.update("hijkijkljklmklmnlmnomnopnopq");
    expect(third.digestHex()).toBe(nativeSha256().update("x".repeat(100)).digestHex());
    expect(second.digestHex()).toBe("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    expect(first.digestHex()).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  test("digest is stable and ends the stream", () => {
    for (const [, hasher] of HASHERS) {
      const h = hasher().update("abc");
      expect(h.digestHex()).toBe(h.digestHex());
      expect(() => h.update("more")).toThrow();
    }
  });

  test("the selected implementation hashes correctly", () => {
    expect(sha256().update("abc").digestHex()).toBe(NIST[1]![1]);
  });
});

const FILE = 0o100644;
const DIR = 0o040755;

function fields(overrides: Partial<StatRecordFields> = {}): StatRecordFields {
  return { size: 10, mtimeSec: 1_700_000_000, mtimeNsec: 500, mode: FILE, uid: 0, gid: 0, rdev: 0, ...overrides };
}

function pairs(changes: Uint32Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < changes.length; i += 2) out.push([changes[i]!, changes[i + 1]!]);
  return out;
}

describe("diff compare", () => {
  test("decides as moby's naive diff does", () => {
    const lower = new StatRecords(2);
    const upper = new StatRecords(2);
    const both = (key: number, before: StatRecordFields, after: StatRecordFields) => {
      lower.push(key, before);
      upper.push(key, after);
    };
    both(1, fields(), fields());
    both(2, fields(), fields({ size: 11 }));
    both(3, fields({ mode: DIR }), fields({ mode: DIR, size: 8192, mtimeSec: 1_800_000_000 }));
    both(4, fields(), fields({ mtimeNsec: 0 }));
    both(5, fields(), fields({ mtimeNsec: 501 }));
    both(6, fields({ mode: DIR }), fields({ mode: 0o040700 }));
    both(7, fields(), fields({ uid: 1000 }));
    both(8, fields({ contentTag: 7 }), fields({ contentTag: 8 }));
    both(9, fields({ contentTag: 7 }), fields({ contentTag: 0 }));
    both(10, fields(), fields({ xattrTag: 99 }));
    both(11, fields({ mode: 0o020000, rdev: 0 }), fields({ mode: 0o020000, rdev: 259 }));
    both(12, fields({ contentTag: 1n << 40n }), fields({ contentTag: (1n << 40n) + 1n }));
    lower.push(13, fields());
    upper.push(14, fields());
    both(15, fields(), fields({ mode: DIR }));
    const expected: [number, number][] = [
      [ChangeKind.Modified, 1],
      [ChangeKind.Modified, 4],
      [ChangeKind.Modified, 5],
      [ChangeKind.Modified, 6],
      [ChangeKind.Modified, 7],
      [ChangeKind.Modified, 9],
      [ChangeKind.Modified, 10],
      [ChangeKind.Modified, 11],
      [ChangeKind.Deleted, 12],
      [ChangeKind.Added, 12],
      [ChangeKind.Modified, 13],
    ];
    expect(pairs(nativeDiffCompare(lower, upper))).toEqual(expected);
    expect(pairs(wasmDiffCompare(lower, upper))).toEqual(expected);
  });

  test("empty sides: everything added, or everything deleted", () => {
    const some = new StatRecords();
    for (let key = 0; key < 3; key++) some.push(key, fields());
    const none = new StatRecords();
    for (const compare of [nativeDiffCompare, wasmDiffCompare]) {
      expect(pairs(compare(none, some))).toEqual([[1, 0], [1, 1], [1, 2]]);
      expect(pairs(compare(some, none))).toEqual([[2, 0], [2, 1], [2, 2]]);
      expect(compare(none, none).length).toBe(0);
    }
  });

  test("wasm and native agree on randomized trees, 64-bit keys and growth included", () => {
    const random = seededRandom(3);
    const pick = <T,>(values: T[]): T => values[Math.floor(random() * values.length)]!;
    for (let round = 0; round < 60; round++) {
      const lower = new StatRecords(1);
      const upper = new StatRecords(1);
      const entries = Math.floor(random() * (round % 10 === 0 ? 40_000 : 500));
      let keyHi = 0, keyLo = 0;
      for (let i = 0; i < entries; i++) {
        keyLo += 1 + Math.floor(random() * 3);
        if (random() < 0.01) keyHi += 1 + Math.floor(random() * 2 ** 31);
        if (keyLo >= 2 ** 32) throw new Error("test generator overflow");
        const base = fields({
          mode: pick([FILE, DIR, 0o120777, 0o020666]),
          size: Math.floor(random() * 2 ** 40),
          mtimeSec: Math.floor(random() * 2 ** 33) - 2 ** 31,
          mtimeNsec: pick([0, Math.floor(random() * 1e9)]),
          uid: pick([0, 1000]),
          contentTag: pick([0, 1, 2 ** 52, 1n << 63n]),
        });
        const changed = { ...base };
        const roll = random();
        if (roll < 0.05) changed.size += 1;
        else if (roll < 0.1) changed.mtimeNsec = pick([0, (base.mtimeNsec + 1) % 1e9]);
        else if (roll < 0.13) changed.mtimeSec += 1;
        else if (roll < 0.16) changed.contentTag = pick([0, 3, 1n << 62n]);
        else if (roll < 0.18) changed.xattrTag = 5;
        else if (roll < 0.2) changed.gid = 7;
        else if (roll < 0.22) changed.rdev = 1;
        const side = random();
        if (side >= 0.05) lower.pushKey64(keyLo, keyHi, base);
        if (side < 0.05 || side >= 0.1) upper.pushKey64(keyLo, keyHi, side < 0.05 ? base : changed);
      }
      const native = nativeDiffCompare(lower, upper);
      const wasm = wasmDiffCompare(lower, upper);
      expect(wasm.length).toBe(native.length);
      expect(Buffer.compare(Buffer.from(wasm.buffer, wasm.byteOffset, wasm.byteLength), Buffer.from(native.buffer, native.byteOffset, native.byteLength))).toBe(0);
    }
  });

  test("records filled from real lstat results, plain and bigint", () => {
    const path = join(scratch, "file");
    writeFileSync(path, "hello");
    utimesSync(path, 1_700_000_000.25, 1_700_000_000.25);
    const plainBefore = lstatSync(path);
    const bigBefore = lstatSync(path, { bigint: true });
    appendFileSync(path, " world");
    utimesSync(path, 1_700_000_000.25, 1_700_000_000.25);
    const plainAfter = lstatSync(path);
    const bigAfter = lstatSync(path, { bigint: true });

    for (const [before, after] of [[plainBefore, plainAfter], [bigBefore, bigAfter]] as const) {
      const lower = new StatRecords();
      const upper = new StatRecords();
      const unchanged = new StatRecords();
      lower.pushStat(0, before);
      upper.pushStat(0, after);
      unchanged.pushStat(0, before);
      for (const compare of [nativeDiffCompare, wasmDiffCompare, diffCompare]) {
        expect(pairs(compare(lower, upper))).toEqual([[ChangeKind.Modified, 0]]);
        expect(compare(lower, unchanged).length).toBe(0);
      }
    }
    // Both kinds of stat fill the same record for the same file.
    const fromPlain = new StatRecords();
    const fromBig = new StatRecords();
    fromPlain.pushStat(0, plainAfter);
    fromBig.pushStat(0, bigAfter);
    expect(Buffer.compare(Buffer.from(fromPlain.bytes()), Buffer.from(fromBig.bytes()))).toBe(0);
  });
});

test("the wasm binaries load inside a compiled executable", async () => {
  const entry = join(scratch, "embedded-entry.ts");
  const binary = join(scratch, "embedded");
  const wasmDir = resolve(import.meta.dir, "../wasm");
  writeFileSync(
    entry,
    `import { wasmSha256, wasmDiffCompare } from ${JSON.stringify(join(wasmDir, "index.ts"))};
import { StatRecords } from ${JSON.stringify(join(wasmDir, "records.ts"))};
import sha256Path from ${JSON.stringify(join(wasmDir, "build", "sha256.wasm"))} with { type: "file" };
const upper = new StatRecords();
upper.push(1, { size: 1, mtimeSec: 0, mtimeNsec: 0, mode: 0o100644, uid: 0, gid: 0, rdev: 0 });
console.log(sha256Path.startsWith("/$bunfs/"), wasmSha256().update("abc").digestHex(), Array.from(wasmDiffCompare(new StatRecords(), upper)).join(","));
`,
  );
  const build = Bun.spawnSync(["bun", "build", "--compile", entry, "--outfile", binary], { stderr: "pipe" });
  expect(build.exitCode, build.stderr.toString()).toBe(0);
  try {
    const run = Bun.spawnSync([binary], { cwd: scratch, stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(run.stdout.toString().trim()).toBe("true ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad 1,0");
  } finally {
    rmSync(binary, { force: true });
  }
});
