/**
 * Publishing a container's ports: pick the host ports, start userland proxies where DNAT cannot help,
 * install the DNAT rules. All or nothing: a failure undoes what was done for that container.
 */
import type { Firewall } from "./firewall";
import type { FirewallRule, Protocol } from "./firewall-rule";
import type { PortAllocator, PortMapping } from "./portmap";
import { startProxy, type Proxy } from "./proxy";

export interface PublishSpec {
  /** The container id; owns the ports, proxies and rules. */
  owner: string;
  bridge: string;
  containerIp: string;
  mappings: readonly PortMapping[];
}

export interface PublishedPort {
  proto: Protocol;
  /** "" means every host address. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

function isLoopback(hostIp: string): boolean {
  return hostIp.startsWith("127.");
}

/** Whether a published port needs a userland proxy; loopback bindings always do. */
export function needsProxy(port: PublishedPort, userlandProxy: boolean): port is PublishedPort & { proto: "tcp" | "udp" } {
  return port.proto !== "sctp" && (isLoopback(port.hostIp) || userlandProxy);
}

/** The DNAT rules for a container's published ports (loopback bindings have none: DNAT cannot reach them). */
export function publishRules(owner: string, bridge: string, containerIp: string, ports: readonly PublishedPort[]): FirewallRule[] {
  return ports
    .filter((p) => !isLoopback(p.hostIp))
    .map((p) => ({ kind: "dnat", owner, bridge, proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, containerIp, containerPort: p.containerPort }));
}

export class PortPublisher {
  private readonly proxies = new Map<string, Proxy[]>();

  constructor(
    private readonly firewall: Firewall,
    private readonly allocator: PortAllocator,
    /** Docker's `userland-proxy` setting (default true): also proxy wildcard bindings, so localhost works. */
    private readonly userlandProxy = true,
  ) {}

  async publish(spec: PublishSpec): Promise<PublishedPort[]> {
    const ports: PublishedPort[] = [];
    const started: Proxy[] = [];
    try {
      for (const m of spec.mappings) {
        const allocated = this.allocator.allocate(spec.owner, m);
        ports.push({ proto: m.proto, hostIp: m.hostIp, hostPort: allocated.hostPort, containerPort: m.containerPort });
      }
      for (const p of ports) {
        if (!needsProxy(p, this.userlandProxy)) continue;
        started.push(await startProxy({ proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, targetIp: spec.containerIp, targetPort: p.containerPort }));
      }
      await this.firewall.add(publishRules(spec.owner, spec.bridge, spec.containerIp, ports));
    } catch (err) {
      for (const proxy of started) proxy.close();
      this.allocator.release(spec.owner);
      await this.firewall.removeOwner(spec.owner).catch(() => {});
      throw err;
    }
    this.proxies.set(spec.owner, [...(this.proxies.get(spec.owner) ?? []), ...started]);
    return ports;
  }

  /** Undo everything `publish` did for `owner`. */
  async unpublish(owner: string): Promise<void> {
    for (const proxy of this.proxies.get(owner) ?? []) proxy.close();
    this.proxies.delete(owner);
    this.allocator.release(owner);
    await this.firewall.removeOwner(owner);
  }
}
