/** Schema migrations, applied in order; never edit one that has shipped — append a new one. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE daemon_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // The ImageGraph: layers form a chain by chainID; an image is its config plus an ordered list of layers;
  // references name images (repo:tag) or pin them (repo@digest, docker's RepoDigests).
  `CREATE TABLE layers (
     chain_id TEXT PRIMARY KEY,
     diff_id TEXT NOT NULL,
     parent TEXT REFERENCES layers(chain_id),
     size INTEGER NOT NULL,
     blob_digest TEXT,
     blob_media_type TEXT,
     blob_size INTEGER
   );
   CREATE INDEX layers_parent ON layers(parent);
   CREATE TABLE images (
     id TEXT PRIMARY KEY,
     config BLOB NOT NULL,
     created TEXT NOT NULL,
     size INTEGER NOT NULL,
     top_layer TEXT REFERENCES layers(chain_id),
     parent TEXT,
     loaded_at INTEGER NOT NULL
   );
   CREATE TABLE image_layers (
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     position INTEGER NOT NULL,
     chain_id TEXT NOT NULL REFERENCES layers(chain_id),
     PRIMARY KEY (image_id, position)
   );
   CREATE INDEX image_layers_chain ON image_layers(chain_id);
   CREATE TABLE image_refs (
     name TEXT PRIMARY KEY,
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     kind TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
     created INTEGER NOT NULL
   );
   CREATE INDEX image_refs_image ON image_refs(image_id);
   CREATE TABLE image_manifests (
     image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
     repository TEXT NOT NULL,
     manifest_digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     PRIMARY KEY (image_id, repository, manifest_digest)
   );`,
];
