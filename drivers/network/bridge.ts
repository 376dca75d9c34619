/**
 * The bridge network driver: a Linux bridge per network holding the gateway address, and per container a
 * veth pair whose container end is created straight inside the container's network namespace (it never
 * exists on the host, so its name cannot clash there) and configured through a netlink socket opened in
 * that namespace.
 *
 * Network modes other than bridge need little: `none` only brings `lo` up (`setupLoopbackOnly`), `host`
 * needs nothing, and `container:<id>` joins an existing namespace in the exec driver.
 */
import { Netlink, NetlinkError, type LinkInfo } from "./netlink";
import { macFromIpv4, parseInterfaceAddress, parseIpv4, type Cidr } from "./ipv4";
import type { NetnsRef } from "./netns";
import type { FirewallRule } from "./firewall-rule";

const EEXIST = 17;
const ENODEV = 19;

export class BridgeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BridgeError";
  }
}

export interface EndpointSpec {
  /** The container's network namespace (fd or /proc/<pid>/ns/net). */
  netns: NetnsRef;
  bridge: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** Default: derived from the IP like Docker (02:42:ac:11:00:02). */
  mac?: string;
  /** Name inside the container; default eth0. */
  ifname?: string;
  mtu?: number;
  /** Install the default route through this network (only one network of a container does). Default true. */
  defaultRoute?: boolean;
}

export interface Endpoint {
  /** The host end, enslaved to the bridge; deleting it deletes both ends. */
  hostIfname: string;
  ifname: string;
  mac: string;
}

export class BridgeDriver {
  private readonly nl: Netlink;

  /** `hostNetns`: where bridges and host veth ends live; default the daemon's own namespace. */
  constructor(hostNetns: NetnsRef | null = null) {
    this.nl = hostNetns === null ? Netlink.open() : Netlink.openIn(hostNetns);
  }

  close(): void {
    this.nl.close();
  }

  /** Create the bridge if missing, give it the gateway address ("10.0.0.1/24"), set its MTU, bring it up. */
  ensureBridge(name: string, gatewayCidr: string, mtu = 1500): LinkInfo {
    const { address, prefix } = parseInterfaceAddress(gatewayCidr);
    let link = this.nl.getLink(name);
    if (link && link.kind !== "bridge") throw new BridgeError(`${name} exists and is not a bridge (it is ${link.kind ?? "a plain device"})`);
    if (!link) {
      try {
        this.nl.createBridge(name, { mtu });
      } catch (err) {
        // Created concurrently by someone else: fine, configure it below.
        if (!(err instanceof NetlinkError && err.errno === EEXIST)) throw err;
      }
    } else if (link.mtu !== mtu) {
      this.nl.setMtu(name, mtu);
    }
    link = this.nl.getLink(name)!;
    if (!this.nl.listAddresses(link.index).some((a) => a.address === address && a.prefix === prefix)) {
      this.nl.addAddress(link.index, address, prefix);
    }
    this.nl.setUp(link.index);
    return this.nl.getLink(link.index)!;
  }

  /** Delete the bridge; missing is fine. Container veths still enslaved go down with it. */
  removeBridge(name: string): void {
    this.deleteIfPresent(name);
  }

  /** Wire a container into `spec.bridge`; on failure nothing is left behind. */
  connectContainer(spec: EndpointSpec): Endpoint {
    const ip = parseIpv4(spec.ip);
    const gateway = parseIpv4(spec.gateway);
    const ifname = spec.ifname ?? "eth0";
    const mac = spec.mac ?? macFromIpv4(ip);
    const mtu = spec.mtu ?? 1500;
    const bridge = this.nl.getLink(spec.bridge);
    if (!bridge) throw new BridgeError(`bridge ${spec.bridge} does not exist`);

    const hostIfname = this.createVeth(spec.netns, ifname, mac, mtu);
    try {
      this.nl.setMaster(hostIfname, bridge.index);
      this.nl.setUp(hostIfname);
      const inside = Netlink.openIn(spec.netns);
      try {
        inside.setUp("lo");
        inside.addAddress(ifname, ip, spec.prefix);
        inside.setUp(ifname);
        if (spec.defaultRoute ?? true) inside.addRoute({ gateway, link: ifname });
      } finally {
        inside.close();
      }
    } catch (err) {
      this.deleteIfPresent(hostIfname);
      throw err;
    }
    return { hostIfname, ifname, mac };
  }

  /** Remove a container's endpoint; already gone (the namespace died and took the pair) is fine. */
  disconnect(hostIfname: string): void {
    this.deleteIfPresent(hostIfname);
  }

  /**
   * Subnets the host already routes (default route excluded), for choosing non-overlapping network
   * subnets with `pickSubnet`.
   */
  routedSubnets(): Cidr[] {
    return this.nl
      .listRoutes()
      .filter((r) => r.table === 254 && r.dst.prefix > 0)
      .map((r) => r.dst);
  }

  private createVeth(netns: NetnsRef, ifname: string, mac: string, mtu: number): string {
    for (let attempt = 0; ; attempt++) {
      // Docker-style host name: "veth" + 7 hex characters.
      const hostIfname = `veth${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex").slice(0, 7)}`;
      try {
        this.nl.createVeth({ name: hostIfname, mtu, peer: { name: ifname, netns, mtu, mac } });
        return hostIfname;
      } catch (err) {
        if (!(err instanceof NetlinkError && err.errno === EEXIST) || attempt >= 5) throw err;
        // EEXIST may also mean `ifname` exists inside the container; that will not go away by retrying.
        if (linkExistsIn(netns, ifname)) throw new BridgeError(`${ifname} already exists in the container`, { cause: err });
      }
    }
  }

  private deleteIfPresent(link: string): void {
    try {
      this.nl.deleteLink(link);
    } catch (err) {
      if (!(err instanceof NetlinkError && err.errno === ENODEV)) throw err;
    }
  }
}

function linkExistsIn(netns: NetnsRef, name: string): boolean {
  const nl = Netlink.openIn(netns);
  try {
    return nl.getLink(name) !== null;
  } finally {
    nl.close();
  }
}

/** `--network none`: the namespace gets only a working loopback. */
export function setupLoopbackOnly(netns: NetnsRef): void {
  const nl = Netlink.openIn(netns);
  try {
    nl.setUp("lo");
  } finally {
    nl.close();
  }
}

export interface BridgeNetworkSpec {
  /** Owner of the rules: the network id. */
  id: string;
  bridge: string;
  subnet: string;
  /** `--internal`: no way in or out except the bridge itself. */
  internal?: boolean;
  /** Keep traffic from other isolated bridges out (Docker does this between all bridge networks). Default true. */
  isolate?: boolean;
}

/** The firewall rules a bridge network needs while it exists. */
export function bridgeNetworkRules(net: BridgeNetworkSpec): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const base = { owner: net.id, bridge: net.bridge };
  if (net.isolate ?? true) rules.push({ kind: "isolate", ...base });
  rules.push(net.internal ? { kind: "internal", ...base, subnet: net.subnet } : { kind: "masquerade", ...base, subnet: net.subnet });
  return rules;
}
