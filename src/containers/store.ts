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

/** The containers table: one small statement per change, each its own transaction. */
export class ContainerStore {
  constructor(private readonly db: Database) {}

  /** Throws a SQLite constraint error when the id or the name is taken; callers check names first. */
  insert(c: ContainerRecord): void {
    this.db
      .query(
        `INSERT INTO containers (id, name, image_id, created, config, host_config, state, restart_count, manually_stopped, network_settings, networking_config, mounts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(c.id, c.name, c.imageId, c.created, JSON.stringify(c.config), JSON.stringify(c.hostConfig), JSON.stringify(c.state), c.restartCount, c.manuallyStopped ? 1 : 0, JSON.stringify(c.networkSettings), JSON.stringify(c.networkingConfig), JSON.stringify(c.mounts));
  }

  /** Persist the mutable parts of a record: state, restart bookkeeping, network settings. */
  saveState(c: ContainerRecord): void {
    this.db
      .query("UPDATE containers SET state = ?, restart_count = ?, manually_stopped = ?, network_settings = ? WHERE id = ?")
      .run(JSON.stringify(c.state), c.restartCount, c.manuallyStopped ? 1 : 0, JSON.stringify(c.networkSettings), c.id);
  }

  /** Only `State.Health`: the healthcheck writes it while the service saves the rest of the state. */
  saveHealth(id: string, health: HealthState): void {
    this.db.query("UPDATE containers SET state = json_set(state, '$.Health', json(?)) WHERE id = ?").run(JSON.stringify(health), id);
  }

  rename(id: string, name: string): void {
    this.db.query("UPDATE containers SET name = ? WHERE id = ?").run(name, id);
  }

  delete(id: string): void {
    this.db.query("DELETE FROM containers WHERE id = ?").run(id);
  }

  get(id: string): ContainerRecord | null {
    const row = this.db.query("SELECT * FROM containers WHERE id = ?").get(id) as Row | null;
    return row ? fromRow(row) : null;
  }

  idByName(name: string): string | null {
    const row = this.db.query("SELECT id FROM containers WHERE name = ?").get(name) as { id: string } | null;
    return row?.id ?? null;
  }

  /** Ids starting with `prefix` (at most two: enough to tell unique from ambiguous). */
  idsByPrefix(prefix: string): string[] {
    const rows = this.db.query("SELECT id FROM containers WHERE id >= ? AND id < ? LIMIT 2").all(prefix, `${prefix}\uffff`) as { id: string }[];
    return rows.map((r) => r.id);
  }

  all(): ContainerRecord[] {
    return (this.db.query("SELECT * FROM containers ORDER BY created DESC").all() as Row[]).map(fromRow);
  }

  /** Ids of containers created from `imageId` (image removal refuses while there are any). */
  idsUsingImage(imageId: string): string[] {
    return (this.db.query("SELECT id FROM containers WHERE image_id = ?").all(imageId) as { id: string }[]).map((r) => r.id);
  }
}
