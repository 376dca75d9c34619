/**
 * Snapshot bookkeeping on disk. Each snapshot is a directory `<home>/<snapshotDirName(key)>` whose `meta.json`
 * holds its key, parent and kind (so the parent chain lives on disk); everything else in it belongs to the driver
 * (`diff`, `work`, ...). A snapshot is assembled under `<home>/.staging/` and appears with one rename, and is
 * removed by renaming it back there first, so a crash never leaves a half-made snapshot visible: init() hands the
 * staging leftovers to the driver to destroy.
 */
import { close, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { GraphDriverError } from "./errors";
import { snapshotDirName } from "./keys";
import type { SnapshotInfo } from "./types";

const META = "meta.json";
const STAGING = ".staging";

export class SnapshotStore {
  constructor(readonly home: string) {}

  /** Create the layout, repair interrupted renames, and return staging leftovers for the driver to destroy. */
  init(): string[] {
    mkdirSync(join(this.home, STAGING), { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.home)) {
      if (name.startsWith(".")) continue;
      const record = this.readMeta(join(this.home, name));
      const expected = record ? snapshotDirName(record.key) : null;
      if (expected === name) continue;
      // A directory without metadata, or one whose rename was interrupted, is garbage unless its name is free.
      if (expected !== null && !existsSync(join(this.home, expected))) renameSync(join(this.home, name), join(this.home, expected));
      else renameSync(join(this.home, name), this.stage());
    }
    return readdirSync(join(this.home, STAGING)).map((name) => join(this.home, STAGING, name));
  }

  dirOf(key: string): string {
    return join(this.home, snapshotDirName(key));
  }

  get(key: string): SnapshotInfo | null {
    const record = this.readMeta(this.dirOf(key));
    return record?.key === key ? record : null;
  }

  require(key: string, kinds?: SnapshotInfo["kind"][]): SnapshotInfo {
    const record = this.get(key);
    if (!record) throw new GraphDriverError("not-found", `snapshot ${key} does not exist`);
    if (kinds && !kinds.includes(record.kind)) {
      throw new GraphDriverError("invalid-state", `snapshot ${key} is ${record.kind}, expected ${kinds.join(" or ")}`);
    }
    return record;
  }

  requireAbsent(key: string): void {
    if (existsSync(this.dirOf(key))) throw new GraphDriverError("already-exists", `snapshot ${key} already exists`);
  }

  list(): SnapshotInfo[] {
    return readdirSync(this.home)
      .filter((name) => !name.startsWith("."))
      .flatMap((name) => this.readMeta(join(this.home, name)) ?? []);
  }

  /** The snapshot and its ancestors, nearest first. */
  ancestry(key: string): SnapshotInfo[] {
    const chain: SnapshotInfo[] = [];
    for (let next: string | null = key; next !== null; next = chain.at(-1)!.parent) {
      if (chain.length > 1000) throw new GraphDriverError("invalid-state", `snapshot ${key} has a parent cycle`);
      chain.push(this.require(next));
    }
    return chain;
  }

  children(key: string): string[] {
    return this.list()
      .filter((record) => record.parent === key)
      .map((record) => record.key);
  }

  /** A fresh empty directory to assemble a snapshot in. */
  stage(): string {
    const dir = join(this.home, STAGING, crypto.randomUUID());
    mkdirSync(dir, { mode: 0o700 });
    return dir;
  }

  /**
   * Write the metadata into the staged directory and move it into place. A container's writable snapshot
   * does not wait for its metadata to reach the disk: the record that names it is not synced at once either
   * (the store runs SQLite's WAL with synchronous=NORMAL), so it is synced in the background, and a crash in
   * between leaves an empty meta.json, which init() takes for a create that never finished.
   */
  publish(stagedDir: string, record: SnapshotInfo): void {
    this.requireAbsent(record.key);
    const meta = join(stagedDir, META);
    if (record.kind === "active") writeFileSyncedLater(meta, JSON.stringify(record));
    else writeFileDurably(meta, JSON.stringify(record));
    renameSync(stagedDir, this.dirOf(record.key));
  }

  /** Take the snapshot out of view; returns its directory, now under staging, for the driver to destroy. */
  unpublish(key: string): string {
    const staged = join(this.home, STAGING, crypto.randomUUID());
    renameSync(this.dirOf(key), staged);
    return staged;
  }

  private readMeta(dir: string): SnapshotInfo | null {
    let text: string;
    try {
      text = readFileSync(join(dir, META), "utf8");
    } catch {
      return null;
    }
    // Written but never synced (see publish): as good as no metadata.
    if (text === "") return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = null;
    }
    if (!isSnapshotInfo(value)) throw new GraphDriverError("invalid-state", `corrupt snapshot metadata in ${dir}`);
    return value;
  }
}

function isSnapshotInfo(value: unknown): value is SnapshotInfo {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.key === "string" && (v.parent === null || typeof v.parent === "string") && (v.kind === "active" || v.kind === "committed" || v.kind === "view");
}

/** Write now; the data reaches the disk a moment later (fsync and close on a pool thread). */
function writeFileSyncedLater(path: string, text: string): void {
  const fd = openSync(path, "w", 0o600);
  try {
    writeSync(fd, text);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  fsync(fd, () => close(fd, () => {}));
}

function writeFileDurably(path: string, text: string): void {
  const fd = openSync(path, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
