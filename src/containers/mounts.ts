/**
 * A container's mounts through its life. At create the request (`-v`, `--mount`, `--tmpfs`, `Config.Volumes` with
 * the image's VOLUME entries, `--volumes-from`) is parsed into one list (src/volumes/mount-spec.ts) and every volume
 * in it is acquired, which names the anonymous ones; the list is stored with the container. At each start the
 * volumes are acquired again with the container's mounted root filesystem, so that an empty volume gets the image's
 * content (copy-up), missing `-v` host directories are created, and the list becomes the exec driver's mounts. At
 * removal the volumes are released (anonymous ones removed with `rm -v`).
 */
import { existsSync, mkdirSync } from "node:fs";
import { posix } from "node:path";
import type { Mount } from "../../drivers/exec/spec";
import { inheritMounts, launchMount, mountPoint, parseMounts, parseVolumesFrom, type MountEntry, type MountPoint } from "../volumes/mount-spec";
import type { VolumeService } from "../volumes/service";
import { log } from "../util/log";
import type { ContainerConfig, ContainerRecord, HostConfig } from "./types";

/** What of the volume service the container side uses. */
export type VolumeAccess = Pick<VolumeService, "acquire" | "release" | "dataPath">;

/** The mounts a create request asks for (validated, volumes not acquired yet). */
export function requestedMounts(h: HostConfig, config: Pick<ContainerConfig, "Volumes">, inherited: MountEntry[] = []): MountEntry[] {
  return parseMounts({ Binds: h.Binds, Mounts: h.Mounts ?? null, Tmpfs: h.Tmpfs ?? null, Volumes: config.Volumes, inherited });
}

/** `--volumes-from a[:ro]`: the mounts of those containers, in order (a later one wins at the same target). */
export function volumesFromMounts(specs: readonly string[], find: (ref: string) => ContainerRecord): MountEntry[] {
  return specs.flatMap((spec) => {
    const { container, mode } = parseVolumesFrom(spec);
    return inheritMounts(find(container).mounts, mode);
  });
}

/**
 * Acquire every volume of `entries` for container `id` (creating missing ones), naming anonymous volumes. On a
 * failure whatever was acquired is released again (the anonymous volumes made here removed) and the error thrown.
 */
export async function acquireVolumes(volumes: VolumeAccess, id: string, entries: MountEntry[]): Promise<MountEntry[]> {
  const named: MountEntry[] = [];
  try {
    for (const entry of entries) {
      if (entry.type !== "volume") {
        named.push(entry);
        continue;
      }
      const options = { ...(entry.volumeLabels ? { labels: entry.volumeLabels } : {}), ...(entry.volumeDriverOptions ? { driverOpts: entry.volumeDriverOptions } : {}) };
      const acquired = await volumes.acquire(entry.source || null, id, options);
      named.push({ ...entry, source: acquired.name });
    }
    return named;
  } catch (err) {
    await releaseVolumes(volumes, id, named, true);
    throw err;
  }
}

/**
 * The exec driver's mounts for a start, parents before children. `rootfs` is the container's mounted root
 * filesystem: an empty volume gets its content at the mount's target (unless `nocopy`).
 */
export async function launchMounts(volumes: VolumeAccess, id: string, entries: readonly MountEntry[], rootfs: string): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const entry of byDepth(entries)) {
    let source = entry.source;
    if (entry.type === "bind" && entry.createSource && !existsSync(source)) mkdirSync(source, { recursive: true, mode: 0o755 });
    if (entry.type === "volume") {
      source = (await volumes.acquire(entry.source, id, entry.nocopy ? {} : { copyFrom: { rootfs, path: entry.target } })).path;
    }
    out.push(launchMount(entry, source));
  }
  return out;
}

/** Drop the container's references to its volumes; `removeAnonymous` also removes anonymous ones nobody else uses. */
export async function releaseVolumes(volumes: VolumeAccess, id: string, entries: readonly MountEntry[], removeAnonymous: boolean): Promise<void> {
  for (const entry of entries) {
    if (entry.type !== "volume" || !entry.source) continue;
    await volumes.release(entry.source, id, { removeAnonymous }).catch((err: unknown) => log.warn("releasing a volume failed", { volume: entry.source, id, error: String(err) }));
  }
}

/** inspect's and the list's `Mounts`. */
export function mountPointsOf(entries: readonly MountEntry[], volumePath: (name: string) => string): MountPoint[] {
  return entries.flatMap((entry) => {
    const point = mountPoint(entry, entry.type === "volume" ? volumePath(entry.source) : entry.source);
    return point ? [point] : [];
  });
}

/** Where a path of the container's tree is on the host when a bind or volume is mounted over it. */
export interface MountedLocation {
  /** The mount's host directory. */
  root: string;
  /** The mount's target in the container. */
  target: string;
  /** The rest of the path inside the mount ("/" for the target itself), keeping a trailing "/" or "/.". */
  path: string;
  readonly: boolean;
}

/**
 * The bind or volume mount holding container path `path` (the deepest one whose target is the path or one of its
 * ancestors), looked up by the path as written; null when the path is in the root filesystem (or a tmpfs, which
 * exists only inside the running container).
 */
export function mountedLocation(entries: readonly MountEntry[], path: string, volumePath: (name: string) => string): MountedLocation | null {
  const clean = posix.join("/", path);
  const suffix = path.endsWith("/.") ? "/." : path.endsWith("/") ? "/" : "";
  let best: MountEntry | null = null;
  for (const entry of entries) {
    if (entry.type === "tmpfs") continue;
    const inside = clean === entry.target || clean.startsWith(`${entry.target}/`);
    if (inside && (!best || entry.target.length > best.target.length)) best = entry;
  }
  if (!best) return null;
  const rest = clean.slice(best.target.length) || "/";
  return {
    root: best.type === "volume" ? volumePath(best.source) : best.source,
    target: best.target,
    path: rest === "/" ? (suffix === "/." ? "/." : "/") : `${rest}${suffix}`,
    readonly: best.readonly,
  };
}

/** Mounts ordered so that a mount's parent directory is mounted before it (as docker sorts them). */
function byDepth(entries: readonly MountEntry[]): MountEntry[] {
  const depth = (m: MountEntry) => m.target.split("/").length;
  return [...entries].sort((a, b) => depth(a) - depth(b));
}
