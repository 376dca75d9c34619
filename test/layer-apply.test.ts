/**
 * The per-layer pull pipeline (src/layers/apply.ts): blob digest, decompression by magic bytes, diffID, size,
 * progress, Docker-like failures on a digest mismatch or a corrupt blob, and room for the event loop (parallel
 * layers, API requests) while a layer extracts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync } from "node:zlib";
import { applyLayer } from "../src/layers/apply";
import { DigestMismatchError, LayerError } from "../src/layers/errors";
import { rawTar } from "./helpers/raw-tar";

const scratch = mkdtempSync("/tmp/bunker-apply-test-");
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
function target(): string {
  const dir = join(scratch, String(counter++));
  mkdirSync(dir);
  return dir;
}

const sha256 = (data: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(data).digest("hex")}`;
/** A web ReadableStream of `data` in 1000-byte chunks, like a fetch body. */
const stream = (data: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < data.length; i += 1000) controller.enqueue(data.slice(i, i + 1000));
      controller.close();
    },
  });

const tar = rawTar([
  { name: "etc/", type: "dir" },
  { name: "etc/hostname", body: "bunker\n" },
  { name: "data", body: crypto.getRandomValues(new Uint8Array(50000)) },
]);

describe.each([
  ["gzip", Bun.gzipSync(tar)],
  ["zstd", new Uint8Array(zstdCompressSync(tar))],
  ["none", tar],
] as const)("%s blob", (compression, blob) => {
  test("is verified, decompressed, hashed and extracted with progress", async () => {
    const dir = target();
    const progress: number[] = [];
    const result = await applyLayer({ blob: stream(blob), expectedDigest: sha256(blob), expectedDiffID: sha256(tar), target: dir, whiteout: "overlay", onProgress: (n) => progress.push(n) });
    expect(result).toEqual({ digest: sha256(blob), diffID: sha256(tar), size: tar.length, compressedSize: blob.length, compression });
    expect(readFileSync(join(dir, "etc/hostname"), "utf8")).toBe("bunker\n");
    expect(progress.at(-1)).toBe(blob.length);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });
});

test("a blob that does not match its digest fails like docker", async () => {
  const blob = Bun.gzipSync(tar);
  const wrong = sha256(new Uint8Array([1]));
  const error = await applyLayer({ blob: stream(blob), expectedDigest: wrong, target: target(), whiteout: "overlay" }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DigestMismatchError);
  expect((error as Error).message).toBe(`failed to verify layer ${wrong}: digest mismatch: expected ${wrong}, got ${sha256(blob)}`);
});

test("a diffID mismatch is reported", async () => {
  const wrong = sha256(new Uint8Array([2]));
  const error = await applyLayer({ blob: stream(tar), expectedDigest: null, expectedDiffID: wrong, target: target(), whiteout: "delete" }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DigestMismatchError);
  expect((error as Error).message).toContain(`expected ${wrong}, got ${sha256(tar)}`);
});

test("corrupt gzip and unsupported compressions are LayerErrors", async () => {
  const gz = Bun.gzipSync(tar);
  const corrupt = gz.slice();
  corrupt.fill(0x55, 20, 200);
  const truncated = gz.slice(0, gz.length - 100);
  const xz = new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]);
  for (const blob of [corrupt, truncated, xz]) {
    const error = await applyLayer({ blob: stream(blob), expectedDigest: null, target: target(), whiteout: "overlay" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerError);
  }
});

test("a failing download surfaces as itself, not as a layer error", async () => {
  const gz = Bun.gzipSync(tar);
  const failing = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(gz.slice(0, 100));
      controller.error(new Error("connection reset"));
    },
  });
  const error = await applyLayer({ blob: failing, expectedDigest: null, target: target(), whiteout: "overlay" }).catch((e: unknown) => e);
  expect((error as Error).message).toContain("connection reset");
});

test("a layer of many small entries, already buffered, still lets the event loop run while it extracts", async () => {
  const entries = Array.from({ length: 2000 }, (_, i) => ({ name: `bin/applet-${i}`, type: "symlink" as const, linkname: "busybox" }));
  const tar = rawTar([{ name: "bin/", type: "dir" }, ...entries]);
  let turns = 0;
  let done = false;
  const spin = () => {
    turns++;
    if (!done) setImmediate(spin);
  };
  setImmediate(spin);
  // One chunk: every read of the tar resolves at once, so only the extractor's own yields give the loop a turn.
  const blob = (async function* () {
    yield tar;
  })();
  await applyLayer({ blob, expectedDigest: null, target: target(), whiteout: "overlay" }).finally(() => (done = true));
  expect(turns).toBeGreaterThan(1);
});
