/**
 * The GraphDriver seam, modelled on containerd's snapshotters: a layer is a snapshot identified by a key;
 * `prepare` makes a writable snapshot on top of a committed parent, `commit` freezes it under a name,
 * `view` makes a read-only one, `mounts` describes how to assemble its root filesystem.
 */
export interface MountSpec {
  type: string; // "overlay" | "bind" | "btrfs"
  source: string;
  /** mount(8)-style options; for overlay, `lowerdir` may hold more layers than fit a page — use `mountSnapshot`. */
  options: string[];
}

export type WhiteoutMode =
  /** deletions are recorded as overlay whiteouts (char 0/0) and `trusted.overlay.opaque=y` */
  | "overlay"
  /** deletions are applied by removing the file from a full copy of the parent */
  | "delete";

export interface SnapshotUsage {
  size: number;
  inodes: number;
}

export interface SnapshotInfo {
  key: string;
  parent: string | null;
  kind: "active" | "committed" | "view";
}

export interface GraphDriver {
  readonly name: string;
  readonly whiteoutMode: WhiteoutMode;
  /** Prepare the driver's home under the data root; verify the kernel supports it (throws otherwise). */
  init(): Promise<void>;
  /** Writable snapshot `key` whose initial content is committed snapshot `parent` (or empty). */
  prepare(key: string, parent: string | null): Promise<void>;
  /** Read-only snapshot of `parent`. */
  view(key: string, parent: string): Promise<void>;
  /** Freeze active snapshot `key` as committed snapshot `name`. */
  commit(name: string, key: string): Promise<void>;
  /** Directory holding this snapshot's own changes: where a layer tar is applied, and what a layer diff reads. */
  diffDir(key: string): string;
  /** How to assemble the snapshot's full root filesystem. */
  mounts(key: string): MountSpec[];
  /** Mount the snapshot's root filesystem at `target` (handles any number of layers). */
  mountAt(key: string, target: string): void;
  unmountAt(target: string): void;
  /**
   * Take what is mounted at `target` out of the mount table now; resolves once the kernel has released it
   * (synced its data). Mount the snapshot again only after that.
   */
  detachAt(target: string): Promise<void>;
  /** Gone from view when this resolves; the space it held may be freed a moment later. */
  remove(key: string): Promise<void>;
  usage(key: string): Promise<SnapshotUsage>;
  exists(key: string): boolean;
  list(): SnapshotInfo[];
}
