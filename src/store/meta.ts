import type { Database } from "bun:sqlite";

/** Small daemon-wide facts (the daemon ID shown by `docker info`). */
export class MetaRepository {
  constructor(private readonly db: Database) {}

  get(key: string): string | null {
    const row = this.db.query("SELECT value FROM daemon_meta WHERE key = ?").get(key) as { value: string } | null;
    return row?.value ?? null;
  }

  set(key: string, value: string): void {
    this.db.query("INSERT INTO daemon_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  daemonId(): string {
    let id = this.get("daemon_id");
    if (!id) {
      id = crypto.randomUUID().toUpperCase();
      this.set("daemon_id", id);
    }
    return id;
  }
}
