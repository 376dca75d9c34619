import type { Database } from "bun:sqlite";
import type { IpamStore } from "../../drivers/network/ipam";

export interface NetworkRow {
  id: string;
  name: string;
  driver: "bridge" | "host" | "null";
  bridge: string | null;
  subnet: string | null;
  gateway: string | null;
  ip_range: string | null;
  internal: number;
  attachable: number;
  labels: string;
  options: string;
  created: string;
}

export interface EndpointRow {
  network_id: string;
  container_id: string;
  endpoint_id: string;
  ip: string;
  mac: string;
  host_ifname: string;
  aliases: string;
}

/** Networks, endpoints and IPAM reservations in SQLite. Reservation is one INSERT: atomic by the primary key. */
export class NetworkStore implements IpamStore {
  constructor(private readonly db: Database) {}

  all(): NetworkRow[] {
    return this.db.query("SELECT * FROM networks ORDER BY created").all() as NetworkRow[];
  }

  byId(id: string): NetworkRow | null {
    return this.db.query("SELECT * FROM networks WHERE id = ?").get(id) as NetworkRow | null;
  }

  byName(name: string): NetworkRow | null {
    return this.db.query("SELECT * FROM networks WHERE name = ?").get(name) as NetworkRow | null;
  }

  byIdPrefix(prefix: string): NetworkRow[] {
    return this.db.query("SELECT * FROM networks WHERE id LIKE ?").all(`${prefix}%`) as NetworkRow[];
  }

  insert(n: NetworkRow): void {
    this.db
      .query("INSERT INTO networks (id, name, driver, bridge, subnet, gateway, ip_range, internal, attachable, labels, options, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .run(n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ip_range, n.internal, n.attachable, n.labels, n.options, n.created);
  }

  delete(id: string): void {
    this.db.query("DELETE FROM networks WHERE id = ?").run(id);
  }

  endpoints(networkId: string): EndpointRow[] {
    return this.db.query("SELECT * FROM network_endpoints WHERE network_id = ?").all(networkId) as EndpointRow[];
  }

  endpointsOf(containerId: string): EndpointRow[] {
    return this.db.query("SELECT * FROM network_endpoints WHERE container_id = ?").all(containerId) as EndpointRow[];
  }

  allEndpoints(): EndpointRow[] {
    return this.db.query("SELECT * FROM network_endpoints").all() as EndpointRow[];
  }

  addEndpoint(e: EndpointRow): void {
    this.db
      .query("INSERT OR REPLACE INTO network_endpoints (network_id, container_id, endpoint_id, ip, mac, host_ifname, aliases) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(e.network_id, e.container_id, e.endpoint_id, e.ip, e.mac, e.host_ifname, e.aliases);
  }

  removeEndpoint(networkId: string, containerId: string): void {
    this.db.query("DELETE FROM network_endpoints WHERE network_id = ? AND container_id = ?").run(networkId, containerId);
  }

  // ---- IpamStore ----
  reserved(networkId: string): Set<string> {
    return new Set((this.db.query("SELECT ip FROM ipam_addresses WHERE network_id = ?").all(networkId) as { ip: string }[]).map((r) => r.ip));
  }

  reserve(networkId: string, ip: string, owner: string): boolean {
    return this.db.query("INSERT OR IGNORE INTO ipam_addresses (network_id, ip, owner) VALUES (?, ?, ?)").run(networkId, ip, owner).changes === 1;
  }

  release(networkId: string, ip: string): void {
    this.db.query("DELETE FROM ipam_addresses WHERE network_id = ? AND ip = ?").run(networkId, ip);
  }

  releaseOwner(owner: string): void {
    this.db.query("DELETE FROM ipam_addresses WHERE owner = ?").run(owner);
  }
}
