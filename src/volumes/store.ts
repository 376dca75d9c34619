import type { Database } from "bun:sqlite";

export interface VolumeRow {
  name: string;
  driver: string;
  /** JSON object, or null when created without labels. */
  labels: string | null;
  /** JSON object of driver options, or null when created without any. */
  options: string | null;
  anonymous: number;
  /** RFC 3339, seconds. */
  created: string;
}

/** Volumes and the containers referencing them, in SQLite. A reference is one row: adding it twice is a no-op. */
export class VolumeStore {
  constructor(private readonly db: Database) {}

  all(): VolumeRow[] {
    return this.db.query("SELECT * FROM volumes ORDER BY created, name").all() as VolumeRow[];
  }

  get(name: string): VolumeRow | null {
    return this.db.query("SELECT * FROM volumes WHERE name = ?").get(name) as VolumeRow | null;
  }

  /** Insert unless a volume of that name exists; true when this call created it. */
  insert(v: VolumeRow): boolean {
    return (
      this.db
        .query("INSERT OR IGNORE INTO volumes (name, driver, labels, options, anonymous, created) VALUES (?, ?, ?, ?, ?, ?)")
        .run(v.name, v.driver, v.labels, v.options, v.anonymous, v.created).changes === 1
    );
  }

  delete(name: string): void {
    this.db.query("DELETE FROM volumes WHERE name = ?").run(name);
  }

  addRef(name: string, containerId: string): void {
    this.db.query("INSERT OR IGNORE INTO volume_refs (volume, container_id) VALUES (?, ?)").run(name, containerId);
  }

  removeRef(name: string, containerId: string): void {
    this.db.query("DELETE FROM volume_refs WHERE volume = ? AND container_id = ?").run(name, containerId);
  }

  /** Container ids referencing the volume, oldest reference first. */
  refs(name: string): string[] {
    return (this.db.query("SELECT container_id FROM volume_refs WHERE volume = ? ORDER BY rowid").all(name) as { container_id: string }[]).map((r) => r.container_id);
  }

  /** Names of the volumes a container references. */
  volumesOf(containerId: string): string[] {
    return (this.db.query("SELECT volume FROM volume_refs WHERE container_id = ? ORDER BY rowid").all(containerId) as { volume: string }[]).map((r) => r.volume);
  }

  refCounts(): Map<string, number> {
    const rows = this.db.query("SELECT volume, COUNT(*) AS n FROM volume_refs GROUP BY volume").all() as { volume: string; n: number }[];
    return new Map(rows.map((r) => [r.volume, r.n]));
  }
}
