/**
 * The build cache: for every step that produced an image, the step's cache key (parent image, instruction as it
 * ran, the build args it saw, and for COPY/ADD the hash of the copied content) → that image. A later build that
 * meets the same key takes the image instead of running the step (` ---> Using cache`). Rows whose image was
 * deleted meanwhile are dropped when met.
 */
import type { Database } from "bun:sqlite";

export interface CacheEntry {
  key: string;
  imageId: string;
  parentId: string;
  description: string;
  created: number;
  lastUsed: number;
  usageCount: number;
}

interface Row {
  key: string;
  image_id: string;
  parent_id: string;
  description: string;
  created: number;
  last_used: number;
  usage_count: number;
}

const toEntry = (r: Row): CacheEntry => ({
  key: r.key,
  imageId: r.image_id,
  parentId: r.parent_id,
  description: r.description,
  created: r.created,
  lastUsed: r.last_used,
  usageCount: r.usage_count,
});

/** sha256 of the parts, each length-prefixed so no two lists hash alike. */
export function cacheKey(parts: readonly string[]): string {
  const hasher = new Bun.CryptoHasher("sha256");
  for (const part of parts) hasher.update(`${part.length}:${part}\n`);
  return `sha256:${hasher.digest("hex")}`;
}

export class BuildCache {
  constructor(private readonly db: Database) {}

  /** The image cached under `key`, if `exists` still knows it (a stale row is removed). */
  lookup(key: string, exists: (imageId: string) => boolean): string | null {
    const row = this.db.query("SELECT image_id FROM build_cache WHERE key = ?").get(key) as { image_id: string } | null;
    if (!row) return null;
    if (!exists(row.image_id)) {
      this.db.query("DELETE FROM build_cache WHERE key = ?").run(key);
      return null;
    }
    this.db.query("UPDATE build_cache SET last_used = ?, usage_count = usage_count + 1 WHERE key = ?").run(Date.now(), key);
    return row.image_id;
  }

  record(key: string, imageId: string, parentId: string, description: string): void {
    const now = Date.now();
    this.db
      .query(
        "INSERT INTO build_cache (key, image_id, parent_id, description, created, last_used, usage_count) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, parent_id = excluded.parent_id, description = excluded.description, last_used = excluded.last_used",
      )
      .run(key, imageId, parentId, description, now, now);
  }

  entries(): CacheEntry[] {
    return (this.db.query("SELECT * FROM build_cache ORDER BY created").all() as Row[]).map(toEntry);
  }

  delete(keys: readonly string[]): void {
    this.db.transaction(() => {
      for (const key of keys) this.db.query("DELETE FROM build_cache WHERE key = ?").run(key);
    })();
  }

  /** Whether any remaining entry points at the image. */
  references(imageId: string): boolean {
    return this.db.query("SELECT 1 FROM build_cache WHERE image_id = ? LIMIT 1").get(imageId) !== null;
  }
}
