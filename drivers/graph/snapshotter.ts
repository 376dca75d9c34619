/**
 * What every directory-backed GraphDriver shares: key and state checks, staging and publishing through the
 * SnapshotStore, dependents checks on remove, usage, listing and mounting from a MountPlan. A driver supplies
 * how a snapshot's directory is populated, frozen, destroyed and mounted.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { GraphDriverError } from "./errors";
import { detachAt, mountPlanAt, mountSpecsOf, unmountAt, type MountPlan } from "./mounting";
import { SnapshotStore } from "./snapshot-store";
import { treeUsage } from "./tree";
import type { GraphDriver, MountSpec, SnapshotInfo, SnapshotUsage, WhiteoutMode } from "./types";

export abstract class DirectorySnapshotter implements GraphDriver {
  abstract readonly name: string;
  abstract readonly whiteoutMode: WhiteoutMode;
  protected readonly store: SnapshotStore;

  constructor(readonly home: string) {
    this.store = new SnapshotStore(home);
  }

  /** Throw a clear error when the host cannot run this driver. */
  protected abstract checkSupport(): void;
  /** Fill the staged directory `dir` with a writable snapshot whose content is `parent` (or empty). */
  protected abstract createActive(dir: string, parent: SnapshotInfo | null): Promise<void>;
  /** Fill the staged directory `dir` with a read-only snapshot of `parent`. */
  protected abstract createView(dir: string, parent: SnapshotInfo): Promise<void>;
  /** Make the staged directory `to` hold the committed form of the active snapshot in `from`. */
  protected abstract freeze(from: string, to: string): Promise<void>;
  /** Delete a snapshot directory that is no longer published. */
  protected abstract destroy(dir: string): Promise<void>;
  protected abstract mountPlan(snapshot: SnapshotInfo): MountPlan;

  async init(): Promise<void> {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    this.checkSupport();
    for (const leftover of this.store.init()) await this.destroy(leftover);
  }

  async prepare(key: string, parent: string | null): Promise<void> {
    this.store.requireAbsent(key);
    const parentInfo = parent === null ? null : this.store.require(parent, ["committed"]);
    await this.build({ key, parent, kind: "active" }, (dir) => this.createActive(dir, parentInfo));
  }

  async view(key: string, parent: string): Promise<void> {
    this.store.requireAbsent(key);
    const parentInfo = this.store.require(parent, ["committed"]);
    await this.build({ key, parent, kind: "view" }, (dir) => this.createView(dir, parentInfo));
  }

  async commit(name: string, key: string): Promise<void> {
    const active = this.store.require(key, ["active"]);
    if (name !== key) this.store.requireAbsent(name);
    const staged = this.store.stage();
    try {
      await this.freeze(this.store.dirOf(key), staged);
    } catch (err) {
      await this.destroy(staged);
      throw err;
    }
    const committed: SnapshotInfo = { key: name, parent: active.parent, kind: "committed" };
    if (name === key) {
      const old = this.store.unpublish(key);
      this.store.publish(staged, committed);
      await this.destroy(old);
    } else {
      this.store.publish(staged, committed);
      await this.destroy(this.store.unpublish(key));
    }
  }

  diffDir(key: string): string {
    return join(this.store.dirOf(key), "diff");
  }

  mounts(key: string): MountSpec[] {
    return mountSpecsOf(this.mountPlan(this.store.require(key)));
  }

  mountAt(key: string, target: string): void {
    mountPlanAt(this.mountPlan(this.store.require(key)), target);
  }

  unmountAt(target: string): void {
    unmountAt(target);
  }

  detachAt(target: string): Promise<void> {
    return detachAt(target);
  }

  /**
   * Takes the snapshot out of view with one rename; its directory is deleted in the background, because
   * freeing a directory's blocks can take milliseconds each (a synchronous discard on some hosts). A deletion
   * that fails or is cut short by the daemon stopping stays under staging, which init() empties.
   */
  async remove(key: string): Promise<void> {
    // Only committed snapshots can be parents (prepare and view take one), so only they need the scan of all.
    const dependents = this.store.require(key).kind === "committed" ? this.store.children(key) : [];
    if (dependents.length > 0) {
      throw new GraphDriverError("has-dependents", `cannot remove snapshot ${key}: ${dependents.length} snapshot(s) depend on it (${dependents.join(", ")})`);
    }
    void this.destroy(this.store.unpublish(key)).catch(() => {});
  }

  async usage(key: string): Promise<SnapshotUsage> {
    const snapshot = this.store.require(key);
    if (snapshot.kind === "view") return { size: 0, inodes: 0 };
    return treeUsage(this.diffDir(key));
  }

  exists(key: string): boolean {
    return this.store.get(key) !== null;
  }

  list(): SnapshotInfo[] {
    return this.store.list();
  }

  private async build(snapshot: SnapshotInfo, populate: (dir: string) => Promise<void>): Promise<void> {
    const staged = this.store.stage();
    try {
      await populate(staged);
      this.store.publish(staged, snapshot);
    } catch (err) {
      await this.destroy(staged);
      throw err;
    }
  }
}
