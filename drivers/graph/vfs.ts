/**
 * vfs: no copy-on-write at all. An active snapshot's `diff` is a full copy of its parent's tree (layers are
 * applied onto it with "delete" whiteouts), committed snapshots keep theirs, a view shares its parent's tree
 * read-only. Slow and large, but it works on any filesystem.
 */
import { mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import type { MountPlan } from "./mounting";
import { DirectorySnapshotter } from "./snapshotter";
import { copyTree, removeTree } from "./tree";
import type { SnapshotInfo } from "./types";

export class VfsDriver extends DirectorySnapshotter {
  readonly name = "vfs";
  readonly whiteoutMode = "delete" as const;

  protected checkSupport(): void {}

  protected async createActive(dir: string, parent: SnapshotInfo | null): Promise<void> {
    const diff = join(dir, "diff");
    mkdirSync(diff, 0o755);
    if (parent) await copyTree(this.diffDir(parent.key), diff);
  }

  protected async createView(): Promise<void> {}

  protected async freeze(from: string, to: string): Promise<void> {
    renameSync(join(from, "diff"), join(to, "diff"));
  }

  protected async destroy(dir: string): Promise<void> {
    await removeTree(dir);
  }

  /** A view has no tree of its own: it is its parent's. */
  override diffDir(key: string): string {
    const snapshot = this.store.get(key);
    return snapshot?.kind === "view" ? super.diffDir(snapshot.parent!) : super.diffDir(key);
  }

  protected mountPlan(snapshot: SnapshotInfo): MountPlan {
    return { type: "bind", source: this.diffDir(snapshot.key), readonly: snapshot.kind !== "active" };
  }
}
