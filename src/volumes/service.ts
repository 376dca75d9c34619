/**
 * Local volumes: a directory `<data-root>/volumes/<name>/_data` per volume, its record and the containers that
 * reference it in SQLite. A volume created with driver options (`type`/`device`/`o`) has that filesystem mounted on
 * `_data` while at least one container references it.
 *
 * The seam for the container service is acquire/release: acquire at create (and again at each start, with
 * `copyFrom`, which is idempotent) records that the container uses the volume, creates it when missing (anonymous
 * when the name is null), mounts it, and copies the image's content into it when it is still empty (docker's
 * copy-up); release at container removal drops the reference, unmounts when nobody is left, and removes an
 * anonymous volume when asked (`docker rm -v`). A volume with references is "in use": `docker volume rm` refuses
 * it and prune skips it.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { treeUsage } from "../../drivers/graph/tree";
import { close, lchown } from "../../drivers/libc/libc";
import { archivePath, extractArchive } from "../archive/copy";
import { openDirPath, removeAt } from "../archive/fs-at";
import type { EventBus } from "../engine/events";
import { ConflictError, InvalidParameterError, NotFoundError } from "../errors";
import { chmodNoFollow } from "../layers/extract";
import { isMountPoint, mountLocal, needsMount, unmountLocal, validateLocalOptions } from "./local-mount";
import { ANONYMOUS_LABEL, anonymousVolumeName, validateVolumeName } from "./names";
import { VolumeStore, type VolumeRow } from "./store";

/** A volume as the API shows it (`GET /volumes/{name}`, the entries of `GET /volumes` and of `/system/df`). */
export interface VolumeView {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
  UsageData?: { Size: number; RefCount: number };
}

/** The body of `POST /volumes/create`. */
export interface CreateVolumeRequest {
  Name?: string;
  Driver?: string;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export interface VolumeFilters {
  name?: string[];
  driver?: string[];
  /** `key` or `key=value`. */
  label?: string[];
  dangling?: boolean;
}

export interface PruneFilters {
  /** Named volumes too, not only anonymous ones. */
  all: boolean;
  label?: string[];
  /** `label!=`: volumes that do not carry these. */
  notLabel?: string[];
}

export interface AcquireOptions {
  /** Copy this directory of a container's root filesystem into the volume if the volume is empty. */
  copyFrom?: { rootfs: string; path: string };
  /** Labels and driver options for a volume that does not exist yet (`--mount` volume-label, volume-opt). */
  labels?: Record<string, string>;
  driverOpts?: Record<string, string>;
}

export interface AcquiredVolume {
  name: string;
  /** Host directory to bind-mount into the container. */
  path: string;
}

export interface VolumeServiceDeps {
  store: VolumeStore;
  /** `<data-root>/volumes`. */
  root: string;
  events: EventBus;
}

export class VolumeService {
  readonly store: VolumeStore;
  private readonly root: string;
  private readonly events: EventBus;
  /** Per-volume queue: creation, mounting, copy-up and removal of one volume never interleave. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(deps: VolumeServiceDeps) {
    this.store = deps.store;
    this.root = deps.root;
    this.events = deps.events;
  }

  /** At daemon start: every recorded volume has its directory; option mounts nobody references are undone. */
  init(): void {
    mkdirSync(this.root, { recursive: true, mode: 0o701 });
    const counts = this.store.refCounts();
    for (const row of this.store.all()) {
      mkdirSync(this.dataPath(row.name), { recursive: true, mode: 0o755 });
      if (!counts.get(row.name) && isMountPoint(this.dataPath(row.name))) unmountLocal(this.dataPath(row.name));
    }
  }

  /** `<data-root>/volumes/<name>/_data`. */
  dataPath(name: string): string {
    return join(this.root, name, "_data");
  }

  /** `POST /volumes/create`: a new volume, or the existing one of that name (as docker answers). */
  async create(request: CreateVolumeRequest): Promise<VolumeView> {
    const driver = request.Driver || "local";
    if (driver !== "local") throw new NotFoundError(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const name = request.Name || anonymousVolumeName();
    validateVolumeName(name);
    const options = request.DriverOpts ?? null;
    if (options) validateLocalOptions(options);
    return this.view(await this.ensure(name, { labels: request.Labels ?? null, options, anonymous: !request.Name }));
  }

  /** `GET /volumes/{name}`. */
  inspect(name: string): VolumeView {
    return this.view(this.require(name));
  }

  /** `GET /volumes`, filtered. */
  list(filters: VolumeFilters = {}): VolumeView[] {
    const counts = this.store.refCounts();
    return this.store
      .all()
      .filter((row) => {
        if (filters.name && !filters.name.some((pattern) => matches(pattern, row.name))) return false;
        if (filters.driver && !filters.driver.includes(row.driver)) return false;
        if (filters.label && !filters.label.every((l) => hasLabel(row, l))) return false;
        if (filters.dangling !== undefined && filters.dangling !== !counts.get(row.name)) return false;
        return true;
      })
      .map((row) => this.view(row));
  }

  /** `DELETE /volumes/{name}`: refused while containers reference it; `force` only forgives a missing volume. */
  async remove(name: string, force = false): Promise<void> {
    await this.locked(name, async () => {
      if (!this.store.get(name)) {
        if (force) return;
        throw new NotFoundError(`get ${name}: no such volume`);
      }
      const users = this.store.refs(name);
      if (users.length > 0) throw new ConflictError(`remove ${name}: volume is in use - [${users.join(", ")}]`);
      this.destroy(name);
    });
  }

  /** `POST /volumes/prune`: unused anonymous volumes (all unused ones with `all`); the names and bytes freed. */
  async prune(filters: PruneFilters): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const row of this.store.all()) {
      if (!filters.all && !row.anonymous) continue;
      if (filters.label && !filters.label.every((l) => hasLabel(row, l))) continue;
      if (filters.notLabel && filters.notLabel.some((l) => hasLabel(row, l))) continue;
      await this.locked(row.name, async () => {
        if (this.store.refs(row.name).length > 0 || !this.store.get(row.name)) return;
        const size = await this.sizeOf(row.name);
        this.destroy(row.name);
        deleted.push(row.name);
        reclaimed += size;
      });
    }
    this.events.publish("volume", "prune", "", { reclaimed: String(reclaimed) });
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** The `Volumes` part of `GET /system/df`: every volume with its size and reference count. */
  async diskUsage(): Promise<VolumeView[]> {
    const counts = this.store.refCounts();
    const out: VolumeView[] = [];
    for (const row of this.store.all()) out.push({ ...this.view(row), UsageData: { Size: await this.sizeOf(row.name), RefCount: counts.get(row.name) ?? 0 } });
    return out;
  }

  /**
   * Container `containerId` uses volume `name` (a new anonymous volume when null): create it if missing, record
   * the reference, mount it if it has driver options, and copy `copyFrom` into it if it is empty. Idempotent for
   * a name already acquired by the container.
   */
  async acquire(name: string | null, containerId: string, options: AcquireOptions = {}): Promise<AcquiredVolume> {
    const volumeName = name ?? anonymousVolumeName();
    if (name !== null) validateVolumeName(name);
    if (options.driverOpts) validateLocalOptions(options.driverOpts);
    return this.locked(volumeName, async () => {
      const row = await this.ensure(volumeName, { labels: options.labels ?? null, options: options.driverOpts ?? null, anonymous: name === null });
      const referenced = this.store.refs(volumeName).includes(containerId);
      this.store.addRef(volumeName, containerId);
      const path = this.dataPath(volumeName);
      try {
        const driverOptions = parseJson(row.options);
        if (driverOptions && needsMount(driverOptions) && !isMountPoint(path)) mountLocal(path, driverOptions);
        if (options.copyFrom && readdirSync(path).length === 0) await copyUp(options.copyFrom, path);
      } catch (err) {
        if (!referenced) this.store.removeRef(volumeName, containerId);
        throw err;
      }
      return { name: volumeName, path };
    });
  }

  /**
   * Container `containerId` no longer uses volume `name`: drop the reference, unmount the volume's filesystem when
   * nobody uses it any more, and with `removeAnonymous` remove it if it is an anonymous volume nobody uses.
   */
  async release(name: string, containerId: string, options: { removeAnonymous?: boolean } = {}): Promise<void> {
    await this.locked(name, async () => {
      const row = this.store.get(name);
      if (!row) return;
      this.store.removeRef(name, containerId);
      if (this.store.refs(name).length > 0) return;
      if (options.removeAnonymous && row.anonymous) return this.destroy(name);
      if (isMountPoint(this.dataPath(name))) unmountLocal(this.dataPath(name));
    });
  }

  /** Whether any container references the volume. */
  inUse(name: string): boolean {
    return this.store.refs(name).length > 0;
  }

  /** The ids of the containers referencing the volume. */
  users(name: string): string[] {
    return this.store.refs(name);
  }

  private require(name: string): VolumeRow {
    const row = this.store.get(name);
    if (!row) throw new NotFoundError(`get ${name}: no such volume`);
    return row;
  }

  /** The volume `name`, created (directory, record, event) unless it exists. */
  private async ensure(name: string, spec: { labels: Record<string, string> | null; options: Record<string, string> | null; anonymous: boolean }): Promise<VolumeRow> {
    const existing = this.store.get(name);
    if (existing) return existing;
    const labels = spec.anonymous ? { ...spec.labels, [ANONYMOUS_LABEL]: "" } : spec.labels;
    const row: VolumeRow = {
      name,
      driver: "local",
      labels: labels ? JSON.stringify(labels) : null,
      options: spec.options ? JSON.stringify(spec.options) : null,
      anonymous: spec.anonymous ? 1 : 0,
      created: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    mkdirSync(this.dataPath(name), { recursive: true, mode: 0o755 });
    if (this.store.insert(row)) this.events.publish("volume", "create", name, { driver: "local" });
    return this.store.get(name) ?? row;
  }

  /** Unmount, delete the files (never following a symlink a container left in them), forget the record. */
  private destroy(name: string): void {
    const path = this.dataPath(name);
    if (isMountPoint(path)) unmountLocal(path);
    const rootFd = openDirPath(this.root);
    try {
      removeAt(rootFd, name);
    } finally {
      close(rootFd);
    }
    this.store.delete(name);
    this.events.publish("volume", "destroy", name, { driver: "local" });
  }

  private async sizeOf(name: string): Promise<number> {
    const path = this.dataPath(name);
    return existsSync(path) ? (await treeUsage(path)).size : 0;
  }

  private view(row: VolumeRow): VolumeView {
    return {
      CreatedAt: row.created,
      Driver: row.driver,
      Labels: parseJson(row.labels),
      Mountpoint: this.dataPath(row.name),
      Name: row.name,
      Options: parseJson(row.options),
      Scope: "local",
    };
  }

  /** Run `fn` after every earlier operation on the same volume. */
  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const settled = next.catch(() => {});
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }
}

/**
 * docker's copy-up: the content of `path` in a container's root (followed inside the root; nothing happens when
 * it is missing or not a directory) is copied into the empty volume directory with owners, modes, times, xattrs
 * and hard links, and the volume's root takes the owner and mode of that directory.
 */
async function copyUp(from: { rootfs: string; path: string }, target: string): Promise<void> {
  let archived: ReturnType<typeof archivePath>;
  try {
    archived = archivePath({ root: from.rootfs, container: "" }, `${from.path.replace(/\/+$/, "")}/.`);
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof InvalidParameterError) return;
    throw err;
  }
  if (!(archived.stat.mode & 2 ** 31)) {
    await archived.tar.cancel();
    return;
  }
  const { tar } = archived;
  const rootEntry = await extractArchive({ root: target, container: "" }, "/", tar, { noOverwriteDirNonDir: false, copyUIDGID: true }).catch(async (err: unknown) => {
    // Releases the source tree's fds when the extraction failed before reading the archive.
    await tar.cancel().catch(() => {});
    throw err;
  });
  if (rootEntry) {
    lchown(target, rootEntry.uid, rootEntry.gid);
    chmodNoFollow(target, rootEntry.mode);
  }
}

function parseJson(text: string | null): Record<string, string> | null {
  return text === null ? null : (JSON.parse(text) as Record<string, string>);
}

function hasLabel(row: VolumeRow, filter: string): boolean {
  const labels = parseJson(row.labels) ?? {};
  const eq = filter.indexOf("=");
  if (eq < 0) return filter in labels;
  return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
}

/** docker matches `name` filters as regular expressions against the name. */
function matches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return name.includes(pattern);
  }
}
