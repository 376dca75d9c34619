import { join } from "node:path";

/**
 * The data root layout, documented in one place:
 *
 *   bunker.db, -wal, -shm       the store (SQLite, WAL)
 *   bunker.lock                 flock held by the daemon that owns this data root
 *   content/blobs/sha256/<hex>  content store: verified blobs (layers, configs, manifests)
 *   content/ingest/<ref>        partial downloads; removed at start-up
 *   <driver>/                   the GraphDriver's home (overlay, vfs, btrfs)
 *   containers/<id>/            per container: hostname, hosts, resolv.conf, <id>-json.log, rootfs mount point
 *   volumes/<name>/_data        local volumes
 *   keeper/gen-<n>/             the keeper (containers' supervisor): keeper.sock, .pid, .lock, .log, <id>.exit
 *   bin/docker-init             the init of `docker run --init`, bind-mounted into those containers
 *   tmp/                        scratch space, emptied at start-up
 */
export class DataRoot {
  constructor(readonly root: string) {}
  get database(): string {
    return join(this.root, "bunker.db");
  }
  get lockFile(): string {
    return join(this.root, "bunker.lock");
  }
  get content(): string {
    return join(this.root, "content");
  }
  graphHome(driver: string): string {
    return join(this.root, driver);
  }
  get containers(): string {
    return join(this.root, "containers");
  }
  container(id: string): string {
    return join(this.root, "containers", id);
  }
  get volumes(): string {
    return join(this.root, "volumes");
  }
  get keeper(): string {
    return join(this.root, "keeper");
  }
  get dockerInit(): string {
    return join(this.root, "bin", "docker-init");
  }
  get tmp(): string {
    return join(this.root, "tmp");
  }
}
