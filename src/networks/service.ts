import { BridgeDriver, bridgeNetworkRules, setupLoopbackOnly } from "../../drivers/network/bridge";
import { startDnsServer, hostUpstreams, type DnsServer, type Upstream } from "../../drivers/network/dns";
import { detectFirewall, type Firewall } from "../../drivers/network/firewall";
import { allocateAddress, checkSubnetFree, describePool, IpamError, parsePool, pickSubnet, releaseAddress, reserveGateway, type Pool } from "../../drivers/network/ipam";
import { formatIpv4, parseCidr, parseIpv4, prefixMask, type Cidr } from "../../drivers/network/ipv4";
import { fromPortBindings, PortAllocatedError, PortAllocator, PortSpecError, type PortBindingsMap, type PortMapping } from "../../drivers/network/portmap";
import { PortPublisher, type PublishedPort } from "../../drivers/network/publish";
import type { DaemonConfig } from "../daemon/config";
import type { EventBus } from "../engine/events";
import { ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, SystemError } from "../errors";
import { log } from "../util/log";
import { NetworkStore, type EndpointRow, type NetworkRow } from "./store";

export const PREDEFINED = ["bridge", "host", "none"] as const;

export interface EndpointSettingsRequest {
  IPAMConfig?: { IPv4Address?: string } | null;
  Aliases?: string[] | null;
}

/** What attaching a container needs to know, taken from its config and host config. */
export interface AttachRequest {
  containerId: string;
  /** Without the leading slash. */
  name: string;
  hostname: string;
  networkMode: string;
  endpoints: Record<string, EndpointSettingsRequest>;
  portBindings: PortBindingsMap;
  publishAllPorts: boolean;
  /** `80/tcp` keys of the image's and container's ExposedPorts. */
  exposedPorts: string[];
}

export interface EndpointSettings {
  IPAMConfig: { IPv4Address?: string } | null;
  Links: null;
  Aliases: string[] | null;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  IPv6Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  DNSNames: string[] | null;
}

export interface NetworkSettings {
  Bridge: string;
  SandboxID: string;
  SandboxKey: string;
  Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Networks: Record<string, EndpointSettings>;
}

interface CreateRequest {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Labels?: Record<string, string>;
  Options?: Record<string, string>;
  IPAM?: { Driver?: string; Config?: { Subnet?: string; IPRange?: string; Gateway?: string }[] };
  CheckDuplicate?: boolean;
  EnableIPv6?: boolean;
}

/** A running container gained (settings) or lost (null) an endpoint on `network`. */
export type EndpointListener = (containerId: string, network: string, settings: EndpointSettings | null) => void;

/**
 * Told when `docker network connect/disconnect` changes the networks a container that is not running will join at
 * its next start: the request to record (null: forget it) and what inspect shows until then.
 */
export type EndpointConfigListener = (containerId: string, network: string, request: EndpointSettingsRequest | null, shown: EndpointSettings | null) => void;

/** Looks up containers for connect/disconnect (the container service answers): `pid` null when not running, `networks` as inspect shows them. */
export type ContainerLookup = (idOrName: string) => { id: string; name: string; hostname: string; pid: number | null; networks: string[] } | null;

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const VETH_SWEEP_MS = 2000;

/**
 * The network service: predefined networks (bridge, host, none), user-defined bridge networks with IPAM in
 * SQLite, container attachment in the start sync window, published ports (DNAT + userland proxy) and an
 * embedded DNS server per user network.
 */
export class NetworkService {
  readonly store: NetworkStore;
  private driver: BridgeDriver | null = null;
  private firewall: Firewall | null = null;
  private publisher: PortPublisher | null = null;
  private readonly dns = new Map<string, DnsServer>();
  private readonly published = new Map<string, PublishedPort[]>();
  private lookupContainer: ContainerLookup = () => null;
  private endpointChanged: EndpointListener = () => {};
  private endpointConfigured: EndpointConfigListener = () => {};
  private readonly retiredVeths = new Set<string>();
  private vethSweep: ReturnType<typeof setTimeout> | null = null;

  constructor(
    db: import("bun:sqlite").Database,
    private readonly config: DaemonConfig,
    private readonly events: EventBus,
  ) {
    this.store = new NetworkStore(db);
  }

  setContainerLookup(lookup: ContainerLookup): void {
    this.lookupContainer = lookup;
  }

  /** Told when `docker network connect/disconnect` changes a running container's endpoints. */
  setEndpointListener(listener: EndpointListener): void {
    this.endpointChanged = listener;
  }

  setEndpointConfigListener(listener: EndpointConfigListener): void {
    this.endpointConfigured = listener;
  }

  /** The networks a container that is not running will join, as inspect shows them: no addresses yet. */
  configuredEndpoints(req: AttachRequest): Record<string, EndpointSettings> {
    const mode = req.networkMode || "default";
    if (mode.startsWith("container:")) return {};
    if (mode === "host") return { host: endpointSettings(this.store.byName("host")?.id ?? "", null, null) };
    const primary = this.networkForMode(mode);
    if (!primary) return { none: endpointSettings(this.store.byName("none")?.id ?? "", null, null) };
    const out: Record<string, EndpointSettings> = {};
    // A network removed since the container was created is no longer shown (its start would fail on it).
    const others = Object.keys(req.endpoints).filter((n) => n !== mode && n !== primary.name).map((n) => this.store.byName(n) ?? this.store.byId(n));
    for (const net of [primary, ...others.filter((n): n is NetworkRow => n !== null)]) {
      const wanted = req.endpoints[net.name] ?? req.endpoints[net.id] ?? {};
      out[net.name] = endpointSettings(net.id, wanted.IPAMConfig ?? null, wanted.Aliases ?? null);
    }
    return out;
  }

  private bridgeDriver(): BridgeDriver {
    return (this.driver ??= new BridgeDriver());
  }

  private async fw(): Promise<Firewall> {
    return (this.firewall ??= await detectFirewall());
  }

  private async ports(): Promise<PortPublisher> {
    return (this.publisher ??= new PortPublisher(await this.fw(), new PortAllocator()));
  }

  /** Predefined networks, bridges and rules of existing networks, DNS for user networks. */
  async init(): Promise<void> {
    const bridgeName = this.config.bridge || "bunker0";
    if (!this.store.byName("host")) this.insertPredefined("host", "host", null, null, null);
    if (!this.store.byName("none")) this.insertPredefined("none", "null", null, null, null);
    const existing = this.store.byName("bridge");
    if (bridgeName === "none") {
      if (existing) this.store.delete(existing.id);
    } else {
      const bip = this.config.bip || "172.17.0.1/16";
      const { address, subnet } = interfaceCidr(bip);
      if (existing && (existing.bridge !== bridgeName || existing.subnet !== subnet)) this.store.delete(existing.id);
      if (!this.store.byName("bridge")) {
        this.insertPredefined("bridge", "bridge", bridgeName, subnet, address);
        const net = this.store.byName("bridge")!;
        reserveGateway(this.store, net.id, this.poolOf(net));
      }
    }
    for (const net of this.store.all()) {
      if (net.driver !== "bridge") continue;
      try {
        await this.activate(net);
      } catch (err) {
        log.error("could not set up network", { network: net.name, error: (err as Error).message });
        if (net.name === "bridge") throw new SystemError(`failed to create the default bridge ${net.bridge}: ${(err as Error).message}`);
      }
    }
    // Endpoints of containers that are not running any more (the daemon stopped) are stale.
    for (const e of this.store.allEndpoints()) {
      const c = this.lookupContainer(e.container_id);
      if (!c?.pid) await this.detach(e.container_id);
    }
  }

  private insertPredefined(name: string, driver: NetworkRow["driver"], bridge: string | null, subnet: string | null, gateway: string | null): void {
    this.store.insert({ id: randomId(), name, driver, bridge, subnet, gateway, ip_range: null, internal: 0, attachable: 0, labels: "{}", options: bridge ? JSON.stringify({ "com.docker.network.bridge.name": bridge }) : "{}", created: new Date().toISOString() });
  }

  private poolOf(net: NetworkRow): Pool {
    return parsePool({ subnet: net.subnet!, ipRange: net.ip_range ?? undefined, gateway: net.gateway ?? undefined });
  }

  /** Bridge up with its gateway address, firewall rules in place, DNS for user networks. */
  private async activate(net: NetworkRow): Promise<void> {
    const pool = this.poolOf(net);
    this.bridgeDriver().ensureBridge(net.bridge!, `${net.gateway}/${pool.subnet.prefix}`, this.config.mtu);
    const fw = await this.fw();
    await fw.removeOwner(ruleOwner(net.id));
    await fw.add(bridgeNetworkRules({ id: ruleOwner(net.id), bridge: net.bridge!, subnet: net.subnet!, internal: net.internal === 1 }));
    if (net.name !== "bridge" && !this.dns.has(net.id)) {
      try {
        const server = await startDnsServer({ hostIp: net.gateway!, port: 53, lookup: (name) => this.resolveName(net.id, name), upstreams: this.upstreams() });
        this.dns.set(net.id, server);
      } catch (err) {
        log.warn("embedded DNS unavailable on network", { network: net.name, error: (err as Error).message });
      }
    }
  }

  private upstreams(): Upstream[] {
    if (this.config.dns.length > 0)
      return this.config.dns.map((d) => {
        const [host, port] = d.includes(":") ? (d.split(":") as [string, string]) : [d, "53"];
        return { ip: host, port: Number(port) };
      });
    return hostUpstreams();
  }

  private resolveName(networkId: string, name: string): string[] | null {
    const wanted = name.replace(/\.$/, "").toLowerCase();
    const ips = this.store
      .endpoints(networkId)
      .filter((e) => (JSON.parse(e.aliases) as string[]).some((a) => a.toLowerCase() === wanted) || e.container_id.startsWith(wanted))
      .map((e) => e.ip);
    return ips.length ? ips : null;
  }

  /** Nameservers a container on this network mode should use. */
  nameservers(networkMode: string): string[] {
    return this.embeddedDns(networkMode) ? [this.embeddedDns(networkMode)!] : this.upstreams().filter((u) => !u.ip.startsWith("127.") && u.port === 53).map((u) => u.ip);
  }

  /** The address of the embedded DNS server of a user network (its gateway), or null. */
  embeddedDns(networkMode: string): string | null {
    const net = this.networkForMode(networkMode);
    return net && net.name !== "bridge" && net.driver === "bridge" && this.dns.has(net.id) ? net.gateway : null;
  }

  resolve(idOrName: string): NetworkRow {
    const byName = this.store.byName(idOrName);
    if (byName) return byName;
    const byId = this.store.byId(idOrName);
    if (byId) return byId;
    const prefix = /^[a-f0-9]+$/.test(idOrName) ? this.store.byIdPrefix(idOrName) : [];
    if (prefix.length === 1) return prefix[0]!;
    if (prefix.length > 1) throw new ConflictError(`network ${idOrName} is ambiguous (${prefix.length} matches found based on ID prefix)`);
    throw new NotFoundError(`network ${idOrName} not found`);
  }

  private networkForMode(mode: string): NetworkRow | null {
    if (mode === "" || mode === "default") mode = "bridge";
    if (mode === "host" || mode === "none" || mode.startsWith("container:")) return null;
    if (mode === "bridge") return this.store.byName("bridge");
    return this.resolve(mode);
  }

  /** Validate a network mode at container create (clear 404 for unknown networks). */
  validateMode(mode: string): void {
    if (mode === "" || mode === "default" || mode === "bridge" || mode === "host" || mode === "none" || mode.startsWith("container:")) return;
    this.resolve(mode);
  }

  async create(req: CreateRequest): Promise<{ Id: string; Warning: string }> {
    if (!req.Name || !NAME_RE.test(req.Name)) throw new InvalidParameterError(`invalid network name ${JSON.stringify(req.Name ?? "")}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if ((PREDEFINED as readonly string[]).includes(req.Name)) throw new ForbiddenError(`${req.Name} is a pre-defined network and cannot be created`);
    if (this.store.byName(req.Name)) throw new ConflictError(`network with name ${req.Name} already exists`);
    const driver = req.Driver || "bridge";
    if (driver !== "bridge") throw new NotFoundError(`could not find plugin ${driver} in v1 plugin registry: plugin not found`);
    const id = randomId();
    const options = req.Options ?? {};
    const bridge = options["com.docker.network.bridge.name"] || `br-${id.slice(0, 12)}`;
    const ipamConfig = req.IPAM?.Config?.[0];
    let pool: Pool;
    try {
      const inUse = this.subnetsInUse();
      if (ipamConfig?.Subnet) {
        pool = parsePool({ subnet: ipamConfig.Subnet, ipRange: ipamConfig.IPRange, gateway: ipamConfig.Gateway });
        checkSubnetFree(pool.subnet, inUse);
      } else {
        const subnet = pickSubnet(inUse);
        pool = parsePool({ subnet: `${formatIpv4(subnet.network)}/${subnet.prefix}` });
      }
    } catch (err) {
      if (err instanceof IpamError) throw err.kind === "invalid" ? new InvalidParameterError(err.message) : new ConflictError(err.message);
      throw err;
    }
    const desc = describePool(pool);
    const row: NetworkRow = {
      id,
      name: req.Name,
      driver: "bridge",
      bridge,
      subnet: desc.Subnet,
      gateway: desc.Gateway,
      ip_range: desc.IPRange ?? null,
      internal: req.Internal ? 1 : 0,
      attachable: req.Attachable ? 1 : 0,
      labels: JSON.stringify(req.Labels ?? {}),
      options: JSON.stringify(options),
      created: new Date().toISOString(),
    };
    this.store.insert(row);
    reserveGateway(this.store, id, pool);
    try {
      await this.activate(row);
    } catch (err) {
      await this.teardown(row).catch(() => {});
      this.store.delete(id);
      throw new SystemError(`failed to create network ${req.Name}: ${(err as Error).message}`);
    }
    this.events.publish("network", "create", id, { name: req.Name, type: "bridge" });
    return { Id: id, Warning: "" };
  }

  private subnetsInUse(): Cidr[] {
    const ours = this.store.all().flatMap((n) => (n.subnet ? [parseCidr(n.subnet)] : []));
    return [...ours, ...this.bridgeDriver().routedSubnets()];
  }

  private async teardown(net: NetworkRow): Promise<void> {
    this.dns.get(net.id)?.close();
    this.dns.delete(net.id);
    if (this.firewall) await this.firewall.removeOwner(ruleOwner(net.id));
    if (net.bridge) {
      try {
        this.bridgeDriver().removeBridge(net.bridge);
      } catch (err) {
        log.warn("could not remove bridge", { bridge: net.bridge, error: (err as Error).message });
      }
    }
  }

  async remove(idOrName: string): Promise<void> {
    const net = this.resolve(idOrName);
    if ((PREDEFINED as readonly string[]).includes(net.name)) throw new ForbiddenError(`${net.name} is a pre-defined network and cannot be removed`);
    const active = this.store.endpoints(net.id);
    if (active.length > 0) throw new ForbiddenError(`error while removing network: network ${net.name} id ${net.id} has active endpoints`);
    await this.teardown(net);
    this.store.delete(net.id);
    this.events.publish("network", "destroy", net.id, { name: net.name, type: net.driver });
  }

  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const net of this.store.all()) {
      if ((PREDEFINED as readonly string[]).includes(net.name) || this.store.endpoints(net.id).length) continue;
      await this.remove(net.id);
      removed.push(net.name);
    }
    return removed;
  }

  /** Tear down what the daemon runs for networks (DNS, proxies); bridges and rules stay for the next start. */
  async shutdown(): Promise<void> {
    this.sweepVeths();
    for (const s of this.dns.values()) s.close();
    this.dns.clear();
    for (const owner of this.published.keys()) await this.publisher?.unpublish(owner).catch(() => {});
    this.published.clear();
    if (this.config.ephemeral) {
      for (const net of this.store.all()) if (net.driver === "bridge") await this.teardown(net);
      // The last engine on the host to go takes our (by then empty) table with it.
      if (this.firewall && (await this.firewall.cleanupIfUnused())) log.info("removed the firewall table: no engine uses it any more");
    }
    this.driver?.close();
  }

  /**
   * Wire a container's network namespace (called in the start sync window, the process is waiting) and
   * return its NetworkSettings. All or nothing: on failure everything done so far is undone.
   */
  async attach(req: AttachRequest, pid: number): Promise<NetworkSettings> {
    const netns = `/proc/${pid}/ns/net`;
    const settings = emptySettings();
    settings.SandboxKey = netns;
    const mode = req.networkMode || "default";
    if (mode === "host" || mode.startsWith("container:")) {
      settings.Networks[mode === "host" ? "host" : mode] = endpointSettings(mode === "host" ? this.store.byName("host")?.id ?? "" : "", null, null);
      return settings;
    }
    setupLoopbackOnly(netns);
    const net = this.networkForMode(mode);
    if (!net) {
      const none = this.store.byName("none");
      settings.Networks.none = endpointSettings(none?.id ?? "", null, null);
      return settings;
    }
    try {
      const endpoint = await this.connectEndpoint(net, req, netns, true);
      settings.Networks[net.name] = endpoint;
      if (net.name === "bridge") {
        settings.IPAddress = endpoint.IPAddress;
        settings.Gateway = endpoint.Gateway;
        settings.IPPrefixLen = endpoint.IPPrefixLen;
        settings.MacAddress = endpoint.MacAddress;
      }
      for (const [name, extra] of Object.entries(req.endpoints)) {
        if (name === net.name || name === mode) continue;
        const other = this.resolve(name);
        settings.Networks[other.name] = await this.connectEndpoint(other, { ...req, endpoints: { [name]: extra } }, netns, false);
      }
      settings.Ports = await this.publish(req, endpoint.IPAddress, net.bridge!);
      return settings;
    } catch (err) {
      await this.detach(req.containerId);
      if (err instanceof PortAllocatedError || err instanceof PortSpecError) throw new InvalidParameterError(err.message);
      if (err instanceof IpamError) throw err.kind === "invalid" ? new InvalidParameterError(err.message) : new ConflictError(err.message);
      throw err;
    }
  }

  private async connectEndpoint(net: NetworkRow, req: AttachRequest, netns: string, defaultRoute: boolean): Promise<EndpointSettings> {
    const pool = this.poolOf(net);
    const wanted = req.endpoints[net.name] ?? req.endpoints[net.id] ?? {};
    const requestedIp = wanted.IPAMConfig?.IPv4Address || undefined;
    if (requestedIp && net.name === "bridge") throw new InvalidParameterError("user specified IP address is supported on user defined networks only");
    const ip = allocateAddress(this.store, net.id, pool, req.containerId, requestedIp);
    try {
      const ifname = this.store.endpointsOf(req.containerId).length === 0 ? "eth0" : `eth${this.store.endpointsOf(req.containerId).length}`;
      const ep = this.bridgeDriver().connectContainer({ netns, bridge: net.bridge!, ip, prefix: pool.subnet.prefix, gateway: net.gateway!, mtu: this.config.mtu, ifname, defaultRoute });
      const aliases = net.name === "bridge" ? [] : [req.name, req.hostname, req.containerId.slice(0, 12), ...(wanted.Aliases ?? [])];
      const endpointId = randomId();
      this.store.addEndpoint({ network_id: net.id, container_id: req.containerId, endpoint_id: endpointId, ip, mac: ep.mac, host_ifname: ep.hostIfname, aliases: JSON.stringify(aliases) });
      this.events.publish("network", "connect", net.id, { name: net.name, type: "bridge", container: req.containerId });
      const out = endpointSettings(net.id, wanted.IPAMConfig ?? null, wanted.Aliases ?? null);
      return { ...out, EndpointID: endpointId, MacAddress: ep.mac, Gateway: net.gateway!, IPAddress: ip, IPPrefixLen: pool.subnet.prefix, DNSNames: aliases.length ? aliases : null };
    } catch (err) {
      releaseAddress(this.store, net.id, ip);
      throw err;
    }
  }

  private async publish(req: AttachRequest, containerIp: string, bridge: string): Promise<NetworkSettings["Ports"]> {
    const mappings: PortMapping[] = fromPortBindings(req.portBindings ?? {});
    const ports: NetworkSettings["Ports"] = {};
    for (const key of req.exposedPorts) ports[key.includes("/") ? key : `${key}/tcp`] = null;
    if (req.publishAllPorts) {
      for (const key of req.exposedPorts) {
        const [port, proto = "tcp"] = key.split("/") as [string, string?];
        if (!mappings.some((m) => m.containerPort === Number(port) && m.proto === proto)) mappings.push({ containerPort: Number(port), proto: proto as PortMapping["proto"], hostIp: "", hostPort: "" });
      }
    }
    if (mappings.length === 0) return ports;
    const published = await (await this.ports()).publish({ owner: req.containerId, bridge, containerIp, mappings });
    this.published.set(req.containerId, published);
    for (const p of published) {
      const key = `${p.containerPort}/${p.proto}`;
      (ports[key] ??= [])!.push({ HostIp: p.hostIp || "0.0.0.0", HostPort: String(p.hostPort) });
    }
    return ports;
  }

  /**
   * A container that kept running while no daemon did: its endpoints are still in the store and in its
   * namespace; its published ports are set up again on the host ports it had (the proxies ended with the
   * previous daemon; its DNAT rules are installed again, which leaves rules still in place as they are).
   */
  async adopt(req: AttachRequest, settings: NetworkSettings): Promise<void> {
    const net = this.networkForMode(req.networkMode || "default");
    const endpoint = net?.driver === "bridge" ? this.store.endpointsOf(req.containerId).find((e) => e.network_id === net.id) : undefined;
    const mappings: PortMapping[] = Object.entries(settings.Ports ?? {}).flatMap(([key, bindings]) => {
      const [port, proto = "tcp"] = key.split("/") as [string, PortMapping["proto"]?];
      return (bindings ?? []).map((b) => ({ containerPort: Number(port), proto, hostIp: b.HostIp === "0.0.0.0" ? "" : b.HostIp, hostPort: b.HostPort }));
    });
    if (!net || !endpoint || mappings.length === 0) return;
    this.published.set(req.containerId, await (await this.ports()).publish({ owner: req.containerId, bridge: net.bridge!, containerIp: endpoint.ip, mappings }));
  }

  /** Undo `attach`: ports, endpoints, addresses. The veths die with the namespace; remove them anyway. */
  async detach(containerId: string): Promise<void> {
    if (this.published.has(containerId) || this.publisher) await this.publisher?.unpublish(containerId).catch(() => {});
    this.published.delete(containerId);
    for (const e of this.store.endpointsOf(containerId)) {
      this.retireVeth(e.host_ifname);
      this.store.removeEndpoint(e.network_id, containerId);
      this.events.publish("network", "disconnect", e.network_id, { container: containerId });
    }
    this.store.releaseOwner(containerId);
  }

  /**
   * A stopped container's namespace dies with its last process and the kernel removes its veth pair on its
   * own; deleting it here would block the daemon for the kernel's network teardown (tens of ms per link).
   * So endpoints are released at once and a sweep a little later removes any pair that is still there
   * (a start that failed before the namespace went away).
   */
  private retireVeth(hostIfname: string): void {
    this.retiredVeths.add(hostIfname);
    this.vethSweep ??= setTimeout(() => this.sweepVeths(), VETH_SWEEP_MS);
  }

  private sweepVeths(): void {
    if (this.vethSweep) clearTimeout(this.vethSweep);
    this.vethSweep = null;
    for (const name of this.retiredVeths) {
      try {
        this.bridgeDriver().disconnect(name);
      } catch (err) {
        log.warn("could not remove a container's veth", { link: name, error: (err as Error).message });
      }
    }
    this.retiredVeths.clear();
  }

  /**
   * `docker network connect`: a running container gets the endpoint now; one that is not running has it recorded
   * and joins the network at its next start (docker-compose connects containers between create and start).
   */
  async connect(idOrName: string, container: string, config: EndpointSettingsRequest): Promise<void> {
    const net = this.resolve(idOrName);
    if (net.driver !== "bridge") throw new ForbiddenError(`container cannot be connected to network ${net.name}`);
    const c = this.lookupContainer(container);
    if (!c) throw new NotFoundError(`No such container: ${container}`);
    if (c.pid === null) {
      if (c.networks.includes(net.name)) throw new ForbiddenError(`endpoint with name ${c.name} already exists in network ${net.name}`);
      this.endpointConfigured(c.id, net.name, config, endpointSettings(net.id, config.IPAMConfig ?? null, config.Aliases ?? null));
      return;
    }
    if (this.store.endpointsOf(c.id).some((e) => e.network_id === net.id)) throw new ForbiddenError(`endpoint with name ${c.name} already exists in network ${net.name}`);
    const settings = await this.connectEndpoint(net, { containerId: c.id, name: c.name, hostname: c.hostname, networkMode: net.name, endpoints: { [net.name]: config }, portBindings: {}, publishAllPorts: false, exposedPorts: [] }, `/proc/${c.pid}/ns/net`, false);
    this.endpointChanged(c.id, net.name, settings);
  }

  async disconnect(idOrName: string, container: string): Promise<void> {
    const net = this.resolve(idOrName);
    const c = this.lookupContainer(container);
    const id = c?.id ?? container;
    const ep = this.store.endpointsOf(id).find((e) => e.network_id === net.id);
    if (!ep && c?.pid === null && c.networks.includes(net.name)) {
      this.endpointConfigured(c.id, net.name, null, null);
      return;
    }
    if (!ep) throw new NotFoundError(`container ${container} is not connected to network ${net.name}`);
    try {
      this.bridgeDriver().disconnect(ep.host_ifname);
    } catch {}
    this.store.removeEndpoint(net.id, id);
    this.store.release(net.id, ep.ip);
    this.endpointChanged(id, net.name, null);
    this.events.publish("network", "disconnect", net.id, { name: net.name, container: id });
  }

  /** Docker's network inspect/list shape. */
  describe(net: NetworkRow, withContainers: boolean): Record<string, unknown> {
    const containers: Record<string, unknown> = {};
    if (withContainers)
      for (const e of this.store.endpoints(net.id)) {
        const c = this.lookupContainer(e.container_id);
        containers[e.container_id] = { Name: c?.name ?? "", EndpointID: e.endpoint_id, MacAddress: e.mac, IPv4Address: `${e.ip}/${net.subnet?.split("/")[1] ?? "32"}`, IPv6Address: "" };
      }
    return {
      Name: net.name,
      Id: net.id,
      Created: net.created,
      Scope: "local",
      Driver: net.driver,
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: null, Config: net.subnet ? [{ Subnet: net.subnet, Gateway: net.gateway, ...(net.ip_range ? { IPRange: net.ip_range } : {}) }] : [] },
      Internal: net.internal === 1,
      Attachable: net.attachable === 1,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Containers: containers,
      Options: JSON.parse(net.options),
      Labels: JSON.parse(net.labels),
    };
  }

  endpointsOf(containerId: string): EndpointRow[] {
    return this.store.endpointsOf(containerId);
  }
}

function ruleOwner(networkId: string): string {
  return `net-${networkId.slice(0, 16)}`;
}

function randomId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

function interfaceCidr(text: string): { address: string; subnet: string } {
  const [address, prefixText] = text.split("/") as [string, string | undefined];
  const prefix = Number(prefixText ?? "16");
  const network = (parseIpv4(address) & prefixMask(prefix)) >>> 0;
  return { address, subnet: `${formatIpv4(network)}/${prefix}` };
}

function emptySettings(): NetworkSettings {
  return { Bridge: "", SandboxID: "", SandboxKey: "", Ports: {}, Gateway: "", IPAddress: "", IPPrefixLen: 0, MacAddress: "", Networks: {} };
}

function endpointSettings(networkId: string, ipam: { IPv4Address?: string } | null, aliases: string[] | null): EndpointSettings {
  return { IPAMConfig: ipam, Links: null, Aliases: aliases, MacAddress: "", NetworkID: networkId, EndpointID: "", Gateway: "", IPAddress: "", IPPrefixLen: 0, IPv6Gateway: "", GlobalIPv6Address: "", GlobalIPv6PrefixLen: 0, DNSNames: null };
}
