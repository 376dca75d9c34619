/**
 * A container's network, per `HostConfig.NetworkMode`: which network namespace its process gets (new, the host's,
 * or another container's) and, through the network service, what is wired into it. The container service calls
 * `attach` in the launcher's sync window (the process exists in its namespaces but has not run yet), `detach`
 * once it has stopped, and `adopt` for a container found running at daemon start.
 */
import type { NamespaceMode } from "../../drivers/exec/spec";
import type { AttachRequest, NetworkService } from "../networks/service";
import { ConflictError } from "../errors";
import { emptyNetworkSettings, type ContainerRecord, type NetworkSettings } from "./types";

/** Finds a running container by name or id (for `container:<name|id>`). */
export type RunningPidLookup = (ref: string) => { id: string; pid: number };

export class ContainerNetworks {
  constructor(
    private readonly service: NetworkService,
    private readonly runningPid: RunningPidLookup,
  ) {}

  /** At create: an unknown network is docker's 404 "network x not found". */
  check(mode: string): void {
    this.service.validateMode(mode);
  }

  namespace(c: ContainerRecord): NamespaceMode {
    const mode = c.hostConfig.NetworkMode;
    if (mode === "host") return "host";
    if (mode.startsWith("container:")) {
      const other = this.runningPid(mode.slice("container:".length));
      if (other.id === c.id) throw new ConflictError("cannot join own network namespace");
      return { path: `/proc/${other.pid}/ns/net` };
    }
    return "private";
  }

  attach(c: ContainerRecord, pid: number): Promise<NetworkSettings> {
    return this.service.attach(attachRequest(c), pid);
  }

  /** A container that kept running while no daemon did: its published ports come back (see NetworkService.adopt). */
  adopt(c: ContainerRecord): Promise<void> {
    return this.service.adopt(attachRequest(c), c.networkSettings);
  }

  /** What inspect shows of a container that is not running: the networks it joins at start, without addresses. */
  idleSettings(c: ContainerRecord): NetworkSettings {
    return { ...emptyNetworkSettings(), Networks: this.service.configuredEndpoints(attachRequest(c)) };
  }

  detach(c: ContainerRecord): Promise<void> {
    return this.service.detach(c.id);
  }

  /** Nameservers for resolv.conf when the container asks for none: the network's DNS, or the host's. */
  nameservers(mode: string): string[] {
    return this.service.nameservers(mode);
  }

  /** The embedded DNS server's address for a user network, or null. */
  embeddedDns(mode: string): string | null {
    return this.service.embeddedDns(mode);
  }
}

function attachRequest(c: ContainerRecord): AttachRequest {
  const exposed = Object.keys(c.config.ExposedPorts ?? {});
  return {
    containerId: c.id,
    name: c.name,
    hostname: c.config.Hostname,
    networkMode: c.hostConfig.NetworkMode,
    endpoints: c.networkingConfig.EndpointsConfig ?? {},
    portBindings: c.hostConfig.PortBindings ?? {},
    publishAllPorts: c.hostConfig.PublishAllPorts === true,
    exposedPorts: [...new Set([...exposed, ...Object.keys(c.hostConfig.PortBindings ?? {})])],
  };
}
