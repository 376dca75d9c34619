import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { startWriteback } from "../../drivers/libc/libc";
import { InvalidParameterError, NotFoundError, SystemError } from "../errors";
import { parseDigest } from "../registry/digest";

/**
 * Writeback of a blob being ingested starts every this many bytes, so the fsync at commit (which blocks the event
 * loop) waits for the last few MiB instead of the whole blob: about 5 ms instead of 20-25 ms for a 26 MB layer.
 */
const WRITEBACK_STEP = 8 * 1024 * 1024;

/**
 * Content-addressed blobs (layers as pulled, configs, manifests) under `<root>/blobs/<alg>/<hex>`.
 * Writes go to `<root>/ingest/`, are size- and digest-verified, fsynced and renamed into place, so a
 * partial or corrupt blob is never visible; ingest leftovers of a crash are removed at start-up.
 */
export class ContentStore {
  private readonly blobs: string;
  private readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobs = join(root, "blobs");
    this.ingestDir = join(root, "ingest");
  }

  /** Create the directories and drop whatever an interrupted ingest left. Returns how many were removed. */
  init(): number {
    mkdirSync(join(this.blobs, "sha256"), { recursive: true, mode: 0o700 });
    mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
    const leftovers = readdirSync(this.ingestDir);
    for (const name of leftovers) rmSync(join(this.ingestDir, name), { force: true, recursive: true });
    return leftovers.length;
  }

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.blobs, algorithm, hex);
  }

  has(digest: string): boolean {
    return existsSync(this.path(digest));
  }

  size(digest: string): number {
    if (!this.has(digest)) throw new NotFoundError(`blob ${digest} not found`);
    return statSync(this.path(digest)).size;
  }

  async read(digest: string): Promise<Uint8Array> {
    if (!this.has(digest)) throw new NotFoundError(`blob ${digest} not found`);
    return new Uint8Array(await Bun.file(this.path(digest)).arrayBuffer());
  }

  stream(digest: string): ReadableStream<Uint8Array> {
    if (!this.has(digest)) throw new NotFoundError(`blob ${digest} not found`);
    return Bun.file(this.path(digest)).stream();
  }

  /** Store bytes; returns their sha256 digest. */
  put(data: Uint8Array | string): string {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
    if (this.has(digest)) return digest;
    const w = this.ingestHashedByCaller(digest);
    w.write(bytes);
    return w.commit(digest);
  }

  /**
   * Begin writing a blob that must hash to `expected` (or any digest when null). `commit` verifies and
   * publishes it; `abort` removes the partial file.
   */
  ingest(expected: string | null, expectedSize?: number): IngestWriter {
    const hasher = new Bun.CryptoHasher("sha256");
    const file = this.openIngest(expected, expectedSize, (chunk) => hasher.update(chunk));
    return { write: file.write, commit: () => file.publish(`sha256:${hasher.digest("hex")}`), abort: file.abort };
  }

  /**
   * Like `ingest`, for bytes the caller hashes anyway on their way elsewhere (a layer's apply hashes its blob):
   * the store keeps them without hashing them a second time. `commit(digest)` takes the digest the caller
   * computed over exactly the written bytes; it must be `expected` when one is given.
   */
  ingestHashedByCaller(expected: string | null, expectedSize?: number): CallerHashedIngestWriter {
    const file = this.openIngest(expected, expectedSize);
    return { write: file.write, commit: (digest) => file.publish(digest), abort: file.abort };
  }

  private openIngest(expected: string | null, expectedSize: number | undefined, onWrite?: (chunk: Uint8Array) => void) {
    if (expected) parseDigest(expected);
    const path = join(this.ingestDir, `${Date.now()}-${crypto.randomUUID()}`);
    const fd = openSync(path, "wx", 0o600);
    let size = 0;
    let writtenBack = 0;
    let open = true;
    const close = () => {
      if (open) closeSync(fd);
      open = false;
    };
    return {
      write: (chunk: Uint8Array) => {
        onWrite?.(chunk);
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off);
        size += chunk.length;
        if (size - writtenBack >= WRITEBACK_STEP) {
          startWriteback(fd, writtenBack, size - writtenBack);
          writtenBack = size;
        }
      },
      publish: (digest: string) => {
        fsyncSync(fd);
        close();
        if (expectedSize !== undefined && size !== expectedSize) {
          rmSync(path, { force: true });
          throw new SystemError(`blob size mismatch: expected ${expectedSize} bytes, got ${size}`);
        }
        if (expected && digest !== expected) {
          rmSync(path, { force: true });
          throw new SystemError(`digest mismatch: expected ${expected}, got ${digest}`);
        }
        renameSync(path, this.path(digest));
        return digest;
      },
      abort: () => {
        close();
        rmSync(path, { force: true });
      },
    };
  }

  delete(digest: string): void {
    rmSync(this.path(digest), { force: true });
  }

  /** Every stored digest (for garbage collection and consistency checks). */
  list(): string[] {
    const out: string[] = [];
    for (const alg of readdirSync(this.blobs)) for (const hex of readdirSync(join(this.blobs, alg))) out.push(`${alg}:${hex}`);
    return out;
  }

  /** Re-hash a stored blob; false when its content no longer matches its name. */
  async verify(digest: string): Promise<boolean> {
    const hasher = new Bun.CryptoHasher("sha256");
    for await (const chunk of this.stream(digest)) hasher.update(chunk);
    return `sha256:${hasher.digest("hex")}` === digest;
  }
}

export interface IngestWriter {
  write(chunk: Uint8Array): void;
  /** Verify and publish; returns the digest. Throws (and removes the partial file) on mismatch. */
  commit(): string;
  abort(): void;
}

export interface CallerHashedIngestWriter {
  write(chunk: Uint8Array): void;
  /** Publish under `digest`, the caller's hash of the written bytes; throws (and removes the file) on mismatch. */
  commit(digest: string): string;
  abort(): void;
}

export function requireDigest(value: string): string {
  try {
    parseDigest(value);
  } catch {
    throw new InvalidParameterError(`invalid digest ${JSON.stringify(value)}`);
  }
  return value;
}
