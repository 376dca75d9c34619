/**
 * The content store's two ways in: `ingest` hashes what it is given; `ingestHashedByCaller` takes the caller's
 * hash of the same bytes (a pull's layer apply) and still refuses a wrong digest or size, leaving nothing behind.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ContentStore } from "./content-store";

const root = mkdtempSync("/tmp/bunker-content-test-");
afterAll(() => rmSync(root, { recursive: true, force: true }));
const store = new ContentStore(root);
store.init();

const bytes = new TextEncoder().encode("layer bytes");
const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
const ingestLeftovers = () => readdirSync(join(root, "ingest"));

test("ingest hashes the bytes itself and refuses a blob that does not match", async () => {
  const wrong = store.ingest(`sha256:${"0".repeat(64)}`);
  wrong.write(bytes);
  expect(() => wrong.commit()).toThrow("digest mismatch");
  expect(ingestLeftovers()).toEqual([]);

  const right = store.ingest(digest, bytes.length);
  right.write(bytes);
  expect(right.commit()).toBe(digest);
  expect(await store.read(digest)).toEqual(bytes);
  store.delete(digest);
});

test("ingestHashedByCaller publishes under the caller's digest when it is the expected one and the size fits", async () => {
  const writer = store.ingestHashedByCaller(digest, bytes.length);
  writer.write(bytes.subarray(0, 5));
  writer.write(bytes.subarray(5));
  expect(writer.commit(digest)).toBe(digest);
  expect(await store.verify(digest)).toBe(true);
  store.delete(digest);

  const unnamed = store.ingestHashedByCaller(null);
  unnamed.write(bytes);
  expect(unnamed.commit(digest)).toBe(digest);
  expect(store.has(digest)).toBe(true);
  store.delete(digest);
});

test("ingestHashedByCaller refuses another digest or size, and abort removes the partial file", () => {
  const wrongDigest = store.ingestHashedByCaller(digest, bytes.length);
  wrongDigest.write(bytes);
  expect(() => wrongDigest.commit(`sha256:${"1".repeat(64)}`)).toThrow("digest mismatch");

  const short = store.ingestHashedByCaller(digest, bytes.length + 1);
  short.write(bytes);
  expect(() => short.commit(digest)).toThrow("blob size mismatch");

  const aborted = store.ingestHashedByCaller(digest);
  aborted.write(bytes);
  aborted.abort();

  expect(store.has(digest)).toBe(false);
  expect(ingestLeftovers()).toEqual([]);
});
