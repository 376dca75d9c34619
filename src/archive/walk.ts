/**
 * A pre-order walk of a directory tree through held directory fds (see fs-at.ts), children in sorted order. The
 * order is also sorted order of the paths joined with "\0" (a name never holds a NUL, and "\0" sorts before every
 * character), which the layer diff relies on to merge two walks.
 */
import type { BigIntStats } from "node:fs";
import { close } from "../../drivers/libc/libc";
import { isDirectory, listDir, lstatAt, openDirAt } from "./fs-at";
import type { NodeRef } from "./tar-entries";

export interface TreeNode extends NodeRef {
  /** Components from the walk's start. */
  path: string[];
  /** For a directory: its entries, sorted (what the walk visits next). */
  children?: string[];
}

/** Yield to the event loop this often, so a walk over a big tree does not stall the daemon. */
const YIELD_EVERY = 256;

/**
 * Every node under the open directory `rootFd` (not the directory itself). A node's `dirFd` is valid until the
 * walk moves on. Entries that disappear or change type while the walk runs are skipped.
 */
export async function* walkTree(rootFd: number): AsyncGenerator<TreeNode> {
  let visited = 0;
  async function* visit(dirFd: number, prefix: string[], names: string[]): AsyncGenerator<TreeNode> {
    for (const name of names) {
      const stat: BigIntStats | null = lstatAt(dirFd, name);
      if (stat === null) continue;
      if (++visited % YIELD_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      const path = [...prefix, name];
      if (!isDirectory(stat)) {
        yield { dirFd, name, stat, path };
        continue;
      }
      const childFd = openDirAt(dirFd, name);
      if (childFd === null) continue;
      try {
        const node: TreeNode = { dirFd, name, stat, path, children: listDir(childFd) };
        yield node;
        yield* visit(childFd, path, node.children!);
      } finally {
        close(childFd);
      }
    }
  }
  yield* visit(rootFd, [], listDir(rootFd));
}
