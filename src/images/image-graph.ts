import type { Database } from "bun:sqlite";
import { ConflictError, InvalidParameterError, NotFoundError } from "../errors";
import { familiarName, familiarString, formatReference, parseReference, type Reference } from "../registry/reference";
import type { ImageConfig } from "../registry/types";
import type { ImageRecord } from "./types";

export interface LayerRow {
  chain_id: string;
  diff_id: string;
  parent: string | null;
  size: number;
  blob_digest: string | null;
  blob_media_type: string | null;
  blob_size: number | null;
}

export interface NewLayer {
  chainId: string;
  diffId: string;
  parent: string | null;
  size: number;
  blobDigest: string | null;
  blobMediaType: string | null;
  blobSize: number | null;
}

interface ImageRow {
  id: string;
  config: Uint8Array;
  created: string;
  size: number;
  top_layer: string | null;
  parent: string | null;
  loaded_at: number;
}

/** chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out.at(-1);
    out.push(prev === undefined ? d : `sha256:${new Bun.CryptoHasher("sha256").update(`${prev} ${d}`).digest("hex")}`);
  }
  return out;
}

const FULL_ID = /^(sha256:)?([a-f0-9]{64})$/;
const SHORT_ID = /^(sha256:)?([a-f0-9]{1,63})$/;

/**
 * The ImageGraph: images, their layer chains and the references that name them, in SQLite. Every change is
 * one transaction. Names are stored fully qualified (`docker.io/library/busybox:latest`).
 */
export class ImageGraph {
  constructor(private readonly db: Database) {}

  layer(chainId: string): LayerRow | null {
    return this.db.query("SELECT * FROM layers WHERE chain_id = ?").get(chainId) as LayerRow | null;
  }

  /** Record an image with its layers (inserting layers not yet known) and references, atomically. */
  addImage(id: string, configBytes: Uint8Array, config: ImageConfig, layers: NewLayer[], refs: { name: string; kind: "tag" | "digest" }[], manifests: { repository: string; digest: string; mediaType: string }[]): void {
    this.db.transaction(() => {
      for (const l of layers) {
        this.db
          .query("INSERT INTO layers (chain_id, diff_id, parent, size, blob_digest, blob_media_type, blob_size) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(chain_id) DO UPDATE SET blob_digest = coalesce(layers.blob_digest, excluded.blob_digest), blob_media_type = coalesce(layers.blob_media_type, excluded.blob_media_type), blob_size = coalesce(layers.blob_size, excluded.blob_size)")
          .run(l.chainId, l.diffId, l.parent, l.size, l.blobDigest, l.blobMediaType, l.blobSize);
      }
      const size = layers.reduce((n, l) => n + l.size, 0);
      this.db
        .query("INSERT INTO images (id, config, created, size, top_layer, parent, loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING")
        .run(id, configBytes, config.created ?? new Date(0).toISOString(), size, layers.at(-1)?.chainId ?? null, config.parent ?? null, Date.now());
      layers.forEach((l, i) => this.db.query("INSERT OR IGNORE INTO image_layers (image_id, position, chain_id) VALUES (?, ?, ?)").run(id, i, l.chainId));
      for (const r of refs) this.setRef(r.name, id, r.kind);
      for (const m of manifests) this.db.query("INSERT OR IGNORE INTO image_manifests (image_id, repository, manifest_digest, media_type) VALUES (?, ?, ?, ?)").run(id, m.repository, m.digest, m.mediaType);
    })();
  }

  private setRef(name: string, imageId: string, kind: "tag" | "digest"): void {
    this.db.query("INSERT INTO image_refs (name, image_id, kind, created) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, created = excluded.created").run(name, imageId, kind, Date.now());
  }

  tag(imageId: string, ref: Reference): void {
    if (ref.digest) throw new InvalidParameterError("refusing to create a tag with a digest reference");
    this.setRef(formatReference(ref), imageId, "tag");
  }

  /** A manifest the image was pushed as (or pulled by): pins `repository@digest` as a RepoDigest, atomically. */
  recordManifest(imageId: string, repository: string, digest: string, mediaType: string): void {
    this.db.transaction(() => {
      this.db.query("INSERT OR IGNORE INTO image_manifests (image_id, repository, manifest_digest, media_type) VALUES (?, ?, ?, ?)").run(imageId, repository, digest, mediaType);
      this.setRef(`${repository}@${digest}`, imageId, "digest");
    })();
  }

  /** Remember a blob made for a layer later (a push compressing a layer that had none, or only a plain tar). */
  setLayerBlob(chainId: string, digest: string, mediaType: string, size: number): void {
    this.db.query("UPDATE layers SET blob_digest = ?, blob_media_type = ?, blob_size = ? WHERE chain_id = ?").run(digest, mediaType, size, chainId);
  }

  /** Remove one reference; returns whether it existed. */
  untag(name: string): boolean {
    return this.db.query("DELETE FROM image_refs WHERE name = ?").run(name).changes > 0;
  }

  refsOf(imageId: string): { name: string; kind: "tag" | "digest" }[] {
    return this.db.query("SELECT name, kind FROM image_refs WHERE image_id = ? ORDER BY created").all(imageId) as { name: string; kind: "tag" | "digest" }[];
  }

  manifestsOf(imageId: string): { repository: string; manifest_digest: string; media_type: string }[] {
    return this.db.query("SELECT repository, manifest_digest, media_type FROM image_manifests WHERE image_id = ?").all(imageId) as { repository: string; manifest_digest: string; media_type: string }[];
  }

  private toRecord(row: ImageRow): ImageRecord {
    const refs = this.refsOf(row.id);
    const layers = (this.db.query("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position").all(row.id) as { chain_id: string }[]).map((r) => r.chain_id);
    return {
      id: row.id,
      config: JSON.parse(Buffer.from(row.config).toString("utf8")) as ImageConfig,
      layers,
      topLayer: row.top_layer,
      size: row.size,
      created: row.created,
      repoTags: refs.filter((r) => r.kind === "tag").map((r) => familiarString(parseReference(r.name))),
      repoDigests: refs.filter((r) => r.kind === "digest").map((r) => familiarString(parseReference(r.name))),
      parent: row.parent ?? "",
    };
  }

  get(id: string): ImageRecord | null {
    const row = this.db.query("SELECT * FROM images WHERE id = ?").get(id) as ImageRow | null;
    return row ? this.toRecord(row) : null;
  }

  configBytes(id: string): Uint8Array | null {
    const row = this.db.query("SELECT config FROM images WHERE id = ?").get(id) as { config: Uint8Array } | null;
    return row ? new Uint8Array(row.config) : null;
  }

  list(): ImageRecord[] {
    return (this.db.query("SELECT * FROM images ORDER BY created DESC").all() as ImageRow[]).map((r) => this.toRecord(r));
  }

  count(): number {
    return (this.db.query("SELECT count(*) AS n FROM images").get() as { n: number }).n;
  }

  /**
   * Docker's lookup order: a full ID, a reference (`name[:tag][@digest]`), then a unique ID prefix.
   * Returns the image and, when the lookup was by reference, the fully-qualified name that matched.
   */
  find(input: string): { image: ImageRecord; refName: string | null } | null {
    const full = FULL_ID.exec(input);
    if (full) {
      const image = this.get(`sha256:${full[2]}`);
      if (image) return { image, refName: null };
    }
    let ref: Reference | null = null;
    try {
      ref = parseReference(input);
    } catch {
      ref = null;
    }
    if (ref) {
      const name = formatReference(ref);
      const row = this.db.query("SELECT image_id FROM image_refs WHERE name = ?").get(name) as { image_id: string } | null;
      if (row) return { image: this.get(row.image_id)!, refName: name };
      if (ref.digest && ref.tag) {
        const byDigest = this.db.query("SELECT image_id FROM image_refs WHERE name = ?").get(formatReference({ ...ref, tag: undefined })) as { image_id: string } | null;
        if (byDigest) return { image: this.get(byDigest.image_id)!, refName: null };
      }
    }
    const short = SHORT_ID.exec(input);
    if (short) {
      const rows = this.db.query("SELECT id FROM images WHERE id LIKE ?").all(`sha256:${short[2]}%`) as { id: string }[];
      if (rows.length > 1) throw new ConflictError(`multiple IDs found with provided prefix: ${input}`);
      if (rows.length === 1) return { image: this.get(rows[0]!.id)!, refName: null };
    }
    return null;
  }

  resolve(input: string): ImageRecord {
    const found = this.find(input);
    if (!found) throw new NotFoundError(`No such image: ${input}`);
    return found.image;
  }

  /** Delete the image row; returns chainIDs of layers that no image references any more (top first). */
  deleteImage(id: string): string[] {
    return this.db.transaction(() => {
      const chain = (this.db.query("SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position DESC").all(id) as { chain_id: string }[]).map((r) => r.chain_id);
      this.db.query("DELETE FROM images WHERE id = ?").run(id);
      const orphans: string[] = [];
      for (const chainId of chain) {
        const used = this.db.query("SELECT 1 FROM image_layers WHERE chain_id = ? LIMIT 1").get(chainId);
        const child = this.db.query("SELECT 1 FROM layers WHERE parent = ? LIMIT 1").get(chainId);
        if (used || child) break;
        this.db.query("DELETE FROM layers WHERE chain_id = ?").run(chainId);
        orphans.push(chainId);
      }
      return orphans;
    })();
  }

  allLayers(): LayerRow[] {
    return this.db.query("SELECT * FROM layers").all() as LayerRow[];
  }

  /**
   * Every content-store digest the database points at: layer blobs, image configs (an image's id is its config's
   * digest), manifests pushed or pulled, the digests pinned by `repo@digest` references, and the images the build
   * cache names. Whatever else is in the content store is garbage.
   */
  referencedDigests(): Set<string> {
    const rows = this.db
      .query(
        `SELECT blob_digest AS d FROM layers WHERE blob_digest IS NOT NULL
         UNION SELECT id FROM images
         UNION SELECT manifest_digest FROM image_manifests
         UNION SELECT substr(name, instr(name, '@') + 1) FROM image_refs WHERE kind = 'digest'
         UNION SELECT image_id FROM build_cache`,
      )
      .all() as { d: string }[];
    return new Set(rows.map((r) => r.d));
  }

  /** Images whose parent is this one (docker refuses to delete those without force). */
  children(id: string): string[] {
    return (this.db.query("SELECT id FROM images WHERE parent = ?").all(id) as { id: string }[]).map((r) => r.id);
  }
}

export function displayNameOf(image: ImageRecord): string {
  return image.repoTags[0] ?? image.id;
}

export { familiarName };
