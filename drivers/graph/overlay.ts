/**
 * overlay: the default driver. Each snapshot directory holds `diff` (its own changes: the layer's files and
 * overlay whiteouts) and, while active, `work` (overlayfs' scratch dir). The parent chain is in the snapshot's
 * metadata; mounting stacks the committed chain as lowerdirs, nearest first, with the active `diff` on top.
 */
import { mkdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { statfsType } from "../libc/libc";
import { GraphDriverError } from "./errors";
import type { MountPlan } from "./mounting";
import { DirectorySnapshotter } from "./snapshotter";
import { removeTree } from "./tree";
import type { SnapshotInfo } from "./types";

const OVERLAYFS_SUPER_MAGIC = 0x794c7630n;

export class OverlayDriver extends DirectorySnapshotter {
  readonly name = "overlay";
  readonly whiteoutMode = "overlay" as const;

  protected checkSupport(): void {
    if (!/\toverlay\n/.test(readFileSync("/proc/filesystems", "utf8"))) {
      throw new GraphDriverError("unsupported", "the overlay storage driver needs overlayfs, which this kernel does not offer");
    }
    if (statfsType(this.home) === OVERLAYFS_SUPER_MAGIC) {
      throw new GraphDriverError("unsupported", `the overlay storage driver cannot keep its data on overlayfs (${this.home})`);
    }
  }

  protected async createActive(dir: string): Promise<void> {
    mkdirSync(join(dir, "diff"), 0o755);
    mkdirSync(join(dir, "work"), 0o700);
  }

  protected async createView(dir: string): Promise<void> {
    mkdirSync(join(dir, "diff"), 0o755);
  }

  protected async freeze(from: string, to: string): Promise<void> {
    renameSync(join(from, "diff"), join(to, "diff"));
  }

  protected async destroy(dir: string): Promise<void> {
    await removeTree(dir);
  }

  protected mountPlan(snapshot: SnapshotInfo): MountPlan {
    const diffOf = (s: SnapshotInfo) => join(this.store.dirOf(s.key), "diff");
    if (snapshot.kind === "active") {
      const dir = this.store.dirOf(snapshot.key);
      if (snapshot.parent === null) return { type: "bind", source: join(dir, "diff"), readonly: false };
      const lowers = this.store.ancestry(snapshot.parent).map(diffOf);
      return { type: "overlay", lowers, upper: { dir: join(dir, "diff"), work: join(dir, "work") } };
    }
    const top = snapshot.kind === "committed" ? snapshot.key : snapshot.parent!;
    const lowers = this.store.ancestry(top).map(diffOf);
    // A read-only overlay needs two lowers; a single layer is its own root filesystem.
    if (lowers.length === 1) return { type: "bind", source: lowers[0]!, readonly: true };
    return { type: "overlay", lowers };
  }
}
