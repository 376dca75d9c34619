import { Database } from "bun:sqlite";
import { MIGRATIONS } from "./migrations";

/**
 * The daemon's one writer connection to `<data-root>/bunker.db` (WAL). Schema changes are versioned
 * migrations applied in order inside a transaction; `user_version` records the last one applied.
 */
export function openStore(path: string): Database {
  const db = new Database(path, { create: true, strict: true });
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec("PRAGMA foreign_keys = ON");
  migrate(db);
  return db;
}

function migrate(db: Database): void {
  const current = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (current > MIGRATIONS.length) throw new Error(`database schema version ${current} is newer than this build knows (${MIGRATIONS.length}); upgrade bunker`);
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
    })();
  }
}
