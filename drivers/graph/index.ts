/**
 * Choosing a GraphDriver by its storage-driver name (`--storage-driver`). `overlay2` is accepted as Docker's name
 * for the overlay driver.
 */
import { BtrfsDriver } from "./btrfs";
import { GraphDriverError } from "./errors";
import { OverlayDriver } from "./overlay";
import type { GraphDriver } from "./types";
import { VfsDriver } from "./vfs";

export const DEFAULT_GRAPH_DRIVER = "overlay";
export const GRAPH_DRIVER_NAMES = ["overlay", "vfs", "btrfs"] as const;

const RETIRED = new Set(["aufs", "devicemapper", "devmapper", "zfs", "fuse-overlayfs"]);

/** A driver keeping its snapshots under `home`; call init() before use. */
export function createGraphDriver(name: string, home: string): GraphDriver {
  switch (name) {
    case "overlay":
    case "overlay2":
      return new OverlayDriver(home);
    case "vfs":
      return new VfsDriver(home);
    case "btrfs":
      return new BtrfsDriver(home);
  }
  if (RETIRED.has(name)) throw new GraphDriverError("unsupported", `storage driver "${name}" is not supported, use overlay`);
  throw new GraphDriverError("unsupported", `unknown storage driver "${name}" (supported: ${GRAPH_DRIVER_NAMES.join(", ")})`);
}

export { GraphDriverError, type GraphDriverErrorKind } from "./errors";
export type { GraphDriver, MountSpec, SnapshotInfo, SnapshotUsage, WhiteoutMode } from "./types";
