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
  // Containers: the docker Config/HostConfig/State documents as JSON, the name unique (without its slash).
  `CREATE TABLE containers (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     image_id TEXT NOT NULL,
     created TEXT NOT NULL,
     config TEXT NOT NULL,
     host_config TEXT NOT NULL,
     state TEXT NOT NULL,
     restart_count INTEGER NOT NULL DEFAULT 0,
     manually_stopped INTEGER NOT NULL DEFAULT 0,
     network_settings TEXT NOT NULL
   );
   CREATE INDEX containers_image ON containers(image_id);`,
  // Networks: user and predefined networks, IPAM reservations, container endpoints.
  `CREATE TABLE networks (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     driver TEXT NOT NULL,
     bridge TEXT,
     subnet TEXT,
     gateway TEXT,
     ip_range TEXT,
     internal INTEGER NOT NULL DEFAULT 0,
     attachable INTEGER NOT NULL DEFAULT 0,
     labels TEXT NOT NULL DEFAULT '{}',
     options TEXT NOT NULL DEFAULT '{}',
     created TEXT NOT NULL
   );
   CREATE TABLE ipam_addresses (
     network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
     ip TEXT NOT NULL,
     owner TEXT NOT NULL,
     PRIMARY KEY (network_id, ip)
   );
   CREATE TABLE network_endpoints (
     network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
     container_id TEXT NOT NULL,
     endpoint_id TEXT NOT NULL,
     ip TEXT NOT NULL,
     mac TEXT NOT NULL,
     host_ifname TEXT NOT NULL,
     aliases TEXT NOT NULL DEFAULT '[]',
     PRIMARY KEY (network_id, container_id)
   );`,
  // What a container asked of its networks at create (aliases, fixed addresses), for every later start.
  `ALTER TABLE containers ADD COLUMN networking_config TEXT NOT NULL DEFAULT '{}';`,
  // Local volumes (data in <data-root>/volumes/<name>/_data) and which containers reference each one.
  `CREATE TABLE volumes (
     name TEXT PRIMARY KEY,
     driver TEXT NOT NULL DEFAULT 'local',
     labels TEXT,
     options TEXT,
     anonymous INTEGER NOT NULL DEFAULT 0,
     created TEXT NOT NULL
   );
   CREATE TABLE volume_refs (
     volume TEXT NOT NULL REFERENCES volumes(name) ON DELETE CASCADE,
     container_id TEXT NOT NULL,
     PRIMARY KEY (volume, container_id)
   );
   CREATE INDEX volume_refs_container ON volume_refs(container_id);`,
  // The build cache: a build step's cache key → the image it produced (no foreign key: images may go first).
  `CREATE TABLE build_cache (
     key TEXT PRIMARY KEY,
     image_id TEXT NOT NULL,
     parent_id TEXT NOT NULL,
     description TEXT NOT NULL,
     created INTEGER NOT NULL,
     last_used INTEGER NOT NULL,
     usage_count INTEGER NOT NULL DEFAULT 1
   );
   CREATE INDEX build_cache_image ON build_cache(image_id);`,
  // A container's mounts as resolved at create (anonymous volumes named), for every start, inspect and removal.
  `ALTER TABLE containers ADD COLUMN mounts TEXT NOT NULL DEFAULT '[]';`,
];
