/**
 * IPv4 address management for bridge networks: validating a network's subnet / --ip-range / --gateway,
 * handing out container addresses, and choosing a subnet for a new network from the default pools.
 *
 * The logic is pure; reservations live behind `IpamStore` (the daemon keeps them in SQLite). Allocation is
 * synchronous from reading the reserved set to `reserve()`, so two allocations on the JS thread can never
 * interleave; `reserve()` returning false (taken by someone else) just moves on to the next address.
 */
import {
  AddressError, broadcastOf, cidrContains, cidrOverlaps, cidrSize, cidrWithin, formatCidr, formatIpv4, parseCidr, parseIpv4, type Cidr,
} from "./ipv4";

export type IpamErrorKind = "invalid" | "conflict" | "exhausted";

/** `invalid` maps to HTTP 400, `conflict` to 409 (address or subnet in use), `exhausted` to 500/503. */
export class IpamError extends Error {
  constructor(
    readonly kind: IpamErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "IpamError";
  }
}

export interface IpamStore {
  /** Addresses (dotted quads) currently reserved on the network. */
  reserved(networkId: string): Set<string>;
  /** Reserve atomically; false if the address is already taken. */
  reserve(networkId: string, ip: string, owner: string): boolean;
  release(networkId: string, ip: string): void;
}

export class MemoryIpamStore implements IpamStore {
  private readonly networks = new Map<string, Map<string, string>>();

  reserved(networkId: string): Set<string> {
    return new Set(this.networks.get(networkId)?.keys());
  }

  reserve(networkId: string, ip: string, owner: string): boolean {
    let owners = this.networks.get(networkId);
    if (!owners) this.networks.set(networkId, (owners = new Map()));
    if (owners.has(ip)) return false;
    owners.set(ip, owner);
    return true;
  }

  release(networkId: string, ip: string): void {
    this.networks.get(networkId)?.delete(ip);
  }
}

/** What the user asked for in `docker network create` (IPAM.Config[]): all optional except the subnet. */
export interface PoolRequest {
  subnet: string;
  ipRange?: string;
  gateway?: string;
}

/** A validated pool; `describePool` gives its Docker API form. */
export interface Pool {
  subnet: Cidr;
  /** Where dynamic addresses come from: the --ip-range, or the whole subnet. */
  range: Cidr;
  gateway: number;
}

export function describePool(pool: Pool): { Subnet: string; IPRange?: string; Gateway: string } {
  const out: { Subnet: string; IPRange?: string; Gateway: string } = { Subnet: formatCidr(pool.subnet), Gateway: formatIpv4(pool.gateway) };
  if (pool.range.prefix !== pool.subnet.prefix) out.IPRange = formatCidr(pool.range);
  return out;
}

/** Run a parser, reporting its AddressError as an `invalid` IpamError. */
function invalid<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AddressError) throw new IpamError("invalid", err.message);
    throw err;
  }
}

/** Validate a subnet request; the gateway defaults to the first host address, as in Docker. */
export function parsePool(request: PoolRequest): Pool {
  const subnet = invalid(() => parseCidr(request.subnet));
  if (subnet.prefix > 30) throw new IpamError("invalid", `invalid subnet ${request.subnet}: a bridge network needs a prefix of /30 or shorter`);
  let range: Cidr = subnet;
  if (request.ipRange) {
    range = invalid(() => parseCidr(request.ipRange!));
    if (!cidrWithin(range, subnet)) throw new IpamError("invalid", `ip-range ${request.ipRange} is not within subnet ${request.subnet}`);
  }
  const gateway = request.gateway ? invalid(() => parseIpv4(request.gateway!)) : subnet.network + 1;
  if (!isHostAddress(subnet, gateway)) throw new IpamError("invalid", `no matching subnet for gateway ${request.gateway}`);
  return { subnet, range, gateway };
}

function isHostAddress(subnet: Cidr, address: number): boolean {
  return cidrContains(subnet, address) && address !== subnet.network && address !== broadcastOf(subnet);
}

/** Reserve the gateway when a network is created, so containers never get it. */
export function reserveGateway(store: IpamStore, networkId: string, pool: Pool): void {
  store.reserve(networkId, formatIpv4(pool.gateway), "gateway");
}

/**
 * Give `owner` an address: the requested static `--ip` (any host address in the subnet, as in Docker, even
 * outside --ip-range), or else the lowest free address of the range.
 */
export function allocateAddress(store: IpamStore, networkId: string, pool: Pool, owner: string, requested?: string): string {
  if (requested) {
    const address = invalid(() => parseIpv4(requested));
    if (!isHostAddress(pool.subnet, address)) {
      throw new IpamError("invalid", `invalid address ${requested}: it does not belong to any of this network's subnets`);
    }
    const text = formatIpv4(address);
    if (!store.reserve(networkId, text, owner)) throw new IpamError("conflict", `Address already in use: ${text}`);
    return text;
  }
  const taken = store.reserved(networkId);
  const first = pool.range.network;
  const end = first + cidrSize(pool.range);
  for (let address = first; address < end; address++) {
    if (!isHostAddress(pool.subnet, address)) continue;
    const text = formatIpv4(address);
    if (taken.has(text)) continue;
    if (store.reserve(networkId, text, owner)) return text;
  }
  throw new IpamError("exhausted", `no available IPv4 addresses on this network's address pool ${formatCidr(pool.range)}`);
}

export function releaseAddress(store: IpamStore, networkId: string, ip: string): void {
  store.release(networkId, ip);
}

/** A block carved into subnets of `size` bits (Docker's `default-address-pools` entries). */
export interface AddressPool {
  base: string;
  size: number;
}

/** Docker's defaults: 172.17–31.0.0/16, then 192.168.0.0/16 in /20 pieces. */
export const DEFAULT_ADDRESS_POOLS: readonly AddressPool[] = [
  ...Array.from({ length: 15 }, (_, i) => ({ base: `172.${17 + i}.0.0/16`, size: 16 })),
  { base: "192.168.0.0/16", size: 20 },
];

/** Refuse a user-given subnet that overlaps one already used by another network or a host route. */
export function checkSubnetFree(subnet: Cidr, inUse: readonly Cidr[]): void {
  const clash = inUse.find((other) => cidrOverlaps(subnet, other));
  if (clash) throw new IpamError("conflict", `Pool overlaps with other one on this address space (${formatCidr(subnet)} overlaps ${formatCidr(clash)})`);
}

/**
 * The first subnet from `pools` overlapping nothing in `inUse` (other networks' subnets and the host's
 * routes; leave the default route out of `inUse`, it overlaps everything).
 */
export function pickSubnet(inUse: readonly Cidr[], pools: readonly AddressPool[] = DEFAULT_ADDRESS_POOLS): Cidr {
  for (const pool of pools) {
    const base = invalid(() => parseCidr(pool.base));
    if (pool.size < base.prefix || pool.size > 30) throw new IpamError("invalid", `invalid address pool ${pool.base} with size ${pool.size}`);
    const step = 2 ** (32 - pool.size);
    for (let network = base.network; network < base.network + cidrSize(base); network += step) {
      const candidate: Cidr = { network, prefix: pool.size };
      if (!inUse.some((other) => cidrOverlaps(candidate, other))) return candidate;
    }
  }
  throw new IpamError("exhausted", "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
}
