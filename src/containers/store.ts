import type { Database } from "bun:sqlite";
import type { MountEntry } from "../volumes/mount-spec";
import type { ContainerConfig, ContainerRecord, ContainerState, HealthState, HostConfig, NetworkingConfig, NetworkSettings } from "./types";

interface Row {
  id: string;
  name: string;
  image_id: string;
  created: string;
  config: string;
  host_config: string;
  state: string;
  restart_count: number;
  manually_stopped: number;
  network_settings: string;
  networking_config: string;
  mounts: string;
}

function fromRow(row: Row): ContainerRecord {
  return {
    id: row.id,
    name: row.name,
    imageId: row.image_id,
    created: row.created,
    config: JSON.parse(row.config) as ContainerConfig,
    hostConfig: JSON.parse(row.host_config) as HostConfig,
    state: JSON.parse(row.state) as ContainerState,
    restartCount: row.restart_count,
    manuallyStopped: row.manually_stopped !== 0,
    networkSettings: JSON.parse(row.network_settings) as NetworkSettings,
    networkingConfig: JSON.parse(row.networking_config) as NetworkingConfig,
    mounts: JSON.parse(row.mounts) as MountEntry[],
  };
}

/** A record as the table holds it: the JSON text hands out independent copies, the frozen record is shared. */
interface Cached {
  json: string;
  record: ContainerRecord;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Snapshot a record: later changes to `c` by its owner do not reach the cache. */
function cachedOf(c: ContainerRecord): Cached {
  const json = JSON.stringify(c);
  return { json, record: deepFreeze(JSON.parse(json) as ContainerRecord) };
}

/**
 * The containers table: one small statement per change, each its own transaction. Every row is also kept in
 * memory (loaded once, then written through after each successful statement), so reads never touch SQLite;
 * the table stays what a daemon start loads. This store is the table's only writer.
 */
export class ContainerStore {
  private readonly cache = new Map<string, Cached>();
  private readonly idsByName = new Map<string, string>();
  /** Ids newest first, rebuilt after an insert or a delete. */
  private order: string[] | null = null;

  constructor(private readonly db: Database) {
    for (const row of db.query("SELECT * FROM containers").all() as Row[]) {
      this.cache.set(row.id, cachedOf(fromRow(row)));
      this.idsByName.set(row.name, row.id);
    }
  }

  /** Throws a SQLite constraint error when the id or the name is taken; callers check names first. */
  insert(c: ContainerRecord): void {
    this.db
      .query(
        `INSERT INTO containers (id, name, image_id, created, config, host_config, state, restart_count, manually_stopped, network_settings, networking_config, mounts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.id, c.name, c.imageId, c.created, JSON.stringify(c.config), JSON.stringify(c.hostConfig), JSON.stringify(c.state), c.restartCount, c.manuallyStopped ? 1 : 0, JSON.stringify(c.networkSettings), JSON.stringify(c.networkingConfig), JSON.stringify(c.mounts));
    this.cache.set(c.id, cachedOf(c));
    this.idsByName.set(c.name, c.id);
    this.order = null;
  }

  /** Persist the mutable parts of a record: state, restart bookkeeping, network settings. */
  saveState(c: ContainerRecord): void {
    this.db
      .query("UPDATE containers SET state = ?, restart_count = ?, manually_stopped = ?, network_settings = ? WHERE id = ?")
      .run(JSON.stringify(c.state), c.restartCount, c.manuallyStopped ? 1 : 0, JSON.stringify(c.networkSettings), c.id);
    this.update(c.id, (old) => ({ ...old, state: c.state, restartCount: c.restartCount, manuallyStopped: c.manuallyStopped, networkSettings: c.networkSettings }));
  }

  /** `docker update`: new limits or restart policy. */
  saveHostConfig(c: ContainerRecord): void {
    this.db.query("UPDATE containers SET host_config = ? WHERE id = ?").run(JSON.stringify(c.hostConfig), c.id);
    this.update(c.id, (old) => ({ ...old, hostConfig: c.hostConfig }));
  }

  /** The networks a container that is not running will join (`network connect/disconnect` before start). */
  saveNetworking(c: ContainerRecord): void {
    this.db.query("UPDATE containers SET networking_config = ?, network_settings = ? WHERE id = ?").run(JSON.stringify(c.networkingConfig), JSON.stringify(c.networkSettings), c.id);
    this.update(c.id, (old) => ({ ...old, networkingConfig: c.networkingConfig, networkSettings: c.networkSettings }));
  }

  /** Only `State.Health`: the healthcheck writes it while the service saves the rest of the state. */
  saveHealth(id: string, health: HealthState): void {
    this.db.query("UPDATE containers SET state = json_set(state, '$.Health', json(?)) WHERE id = ?").run(JSON.stringify(health), id);
    this.update(id, (old) => ({ ...old, state: { ...old.state, Health: health } }));
  }

  rename(id: string, name: string): void {
    this.db.query("UPDATE containers SET name = ? WHERE id = ?").run(name, id);
    const old = this.cache.get(id)?.record.name;
    if (old === undefined) return;
    this.idsByName.delete(old);
    this.idsByName.set(name, id);
    this.update(id, (record) => ({ ...record, name }));
  }

  delete(id: string): void {
    this.db.query("DELETE FROM containers WHERE id = ?").run(id);
    const name = this.cache.get(id)?.record.name;
    if (name !== undefined) this.idsByName.delete(name);
    this.cache.delete(id);
    this.order = null;
  }

  /** A copy the caller may change (and save). */
  get(id: string): ContainerRecord | null {
    const cached = this.cache.get(id);
    return cached ? (JSON.parse(cached.json) as ContainerRecord) : null;
  }

  idByName(name: string): string | null {
    return this.idsByName.get(name) ?? null;
  }

  /** Ids starting with `prefix` (at most two: enough to tell unique from ambiguous). */
  idsByPrefix(prefix: string): string[] {
    const ids: string[] = [];
    for (const id of this.cache.keys()) if (id.startsWith(prefix) && ids.push(id) === 2) break;
    return ids;
  }

  /** Copies the caller may change, newest first. */
  all(): ContainerRecord[] {
    return this.newestFirst().map((id) => JSON.parse(this.cache.get(id)!.json) as ContainerRecord);
  }

  /**
   * The stored records themselves, newest first, frozen: for readers that only look (the list). A write replaces
   * a container's record with a new object, so one can key derived data (a rendered summary) on its identity.
   */
  snapshot(): readonly ContainerRecord[] {
    return this.newestFirst().map((id) => this.cache.get(id)!.record);
  }

  /** Ids of containers created from `imageId` (image removal refuses while there are any). */
  idsUsingImage(imageId: string): string[] {
    const ids: string[] = [];
    for (const { record } of this.cache.values()) if (record.imageId === imageId) ids.push(record.id);
    return ids;
  }

  /** Mirror an UPDATE: an UPDATE of an id that is not stored changed no row, and changes nothing here either. */
  private update(id: string, change: (old: ContainerRecord) => ContainerRecord): void {
    const cached = this.cache.get(id);
    if (cached) this.cache.set(id, cachedOf(change(cached.record)));
  }

  private newestFirst(): string[] {
    this.order ??= [...this.cache.values()].sort((a, b) => (a.record.created < b.record.created ? 1 : a.record.created > b.record.created ? -1 : 0)).map((c) => c.record.id);
    return this.order;
  }
}
