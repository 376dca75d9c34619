/**
 * Read-only views of images' root filesystems, for the steps that read an image's files without running it:
 * COPY/ADD (where the destination leads, which directories exist, --chown names), COPY --from, WORKDIR. A view is
 * a GraphDriver view snapshot mounted under the builder's directory; `release()` unmounts it and removes the
 * snapshot. Views live outside the data root's tmp/ (emptied with a recursive delete at start-up, which must never
 * meet a mount); a daemon that died with views mounted has them unmounted by `unmountStale` at the next start, and
 * their snapshots are removed by the image service's reconciliation as orphans.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { GraphDriver } from "../../drivers/graph/types";
import { parseMountinfo } from "../../drivers/exec/cgroups/detect";
import { MNT_DETACH, umount } from "../../drivers/libc/libc";
import type { ImageRecord } from "../images/types";
import { log } from "../util/log";
import { ConfinedTree } from "./confined-tree";

export interface RootfsView {
  tree: ConfinedTree;
  release(): Promise<void>;
}

export class RootfsViews {
  constructor(
    private readonly driver: GraphDriver,
    /** A directory of our own, outside tmp/. */
    private readonly home: string,
  ) {}

  /** Unmount and remove what a previous daemon left under the views' directory. */
  unmountStale(): void {
    mkdirSync(this.home, { recursive: true, mode: 0o700 });
    for (const target of this.mountsInside()) {
      try {
        umount(target, MNT_DETACH);
      } catch (err) {
        log.warn("could not unmount a stale build view", { target, error: (err as Error).message });
      }
    }
    const stillMounted = new Set(this.mountsInside());
    for (const name of readdirSync(this.home)) {
      if (!stillMounted.has(join(this.home, name))) rmSync(join(this.home, name), { recursive: true, force: true });
    }
  }

  /** Mount points below the views' directory, deepest first. */
  private mountsInside(): string[] {
    const prefix = `${this.home}/`;
    return parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"))
      .map((m) => m.mountpoint)
      .filter((p) => p.startsWith(prefix))
      .sort((a, b) => b.length - a.length);
  }

  /** A view of `image`'s root filesystem; an empty tree for an image without layers. */
  async open(image: ImageRecord | null): Promise<RootfsView> {
    const key = `build-view-${crypto.randomUUID()}`;
    const target = join(this.home, key);
    mkdirSync(target, { mode: 0o700 });
    if (!image?.topLayer) {
      const tree = new ConfinedTree(target);
      return {
        tree,
        release: async () => {
          tree.close();
          rmdirSync(target);
        },
      };
    }
    let viewCreated = false;
    let mounted = false;
    try {
      await this.driver.view(key, image.topLayer);
      viewCreated = true;
      this.driver.mountAt(key, target);
      mounted = true;
      const tree = new ConfinedTree(target);
      return { tree, release: () => this.release(key, target, tree) };
    } catch (err) {
      if (mounted) this.driver.unmountAt(target);
      rmdirSync(target);
      if (viewCreated) await this.driver.remove(key).catch(() => {});
      throw err;
    }
  }

  private async release(key: string, target: string, tree: ConfinedTree): Promise<void> {
    tree.close();
    try {
      this.driver.unmountAt(target);
    } catch {
      // Something still holds it (a file being read when the build was cancelled): detach it instead.
      umount(target, MNT_DETACH);
    }
    rmdirSync(target);
    await this.driver.remove(key);
  }
}
