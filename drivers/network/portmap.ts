/**
 * Published ports: parsing `docker run -p` specs, and choosing host ports that are really free.
 */
import { readFileSync } from "node:fs";
import { bind, close, setsockoptInt, socket, SysError } from "../libc/libc";
import { ipv4Bytes, isIpv4, parseIpv4 } from "./ipv4";
import { inNetns, type NetnsRef } from "./netns";
import { isWildcardHostIp, type Protocol } from "./firewall-rule";

/** One container port published on the host, in the shape of the API's PortBindings. */
export interface PortMapping {
  containerPort: number;
  proto: Protocol;
  /** "" means every host address. */
  hostIp: string;
  /** "" (any free port), "8080", or "8000-8010" (any free port in the range). */
  hostPort: string;
}

export class PortSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PortSpecError";
  }
}

/** A host port that is taken, by us or by another process. Docker reports it with exactly this text. */
export class PortAllocatedError extends Error {
  constructor(
    readonly hostIp: string,
    readonly hostPort: number,
    readonly proto: Protocol,
  ) {
    super(`Bind for ${hostIp || "0.0.0.0"}:${hostPort} failed: port is already allocated`);
    this.name = "PortAllocatedError";
  }
}

const PROTOCOLS: readonly Protocol[] = ["tcp", "udp", "sctp"];

function parseRange(text: string, what: string, spec: string): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  const start = Number(m?.[1]);
  const end = m?.[2] === undefined ? start : Number(m[2]);
  if (!m || start > 65535 || end > 65535 || end < start) throw new PortSpecError(`invalid ${what} port: ${text} (in ${spec})`);
  return [start, end];
}

/** Split "ip:host:container", allowing a bracketed IPv6 host address. */
function splitSpec(spec: string): [ip: string, host: string, container: string] {
  let rest = spec;
  let ip = "";
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]:");
    if (close < 0) throw new PortSpecError(`invalid port spec: ${spec}`);
    ip = rest.slice(1, close);
    rest = rest.slice(close + 2);
    const parts = rest.split(":");
    if (parts.length !== 2) throw new PortSpecError(`invalid port spec: ${spec}`);
    return [ip, parts[0]!, parts[1]!];
  }
  const parts = rest.split(":");
  if (parts.length === 1) return ["", "", parts[0]!];
  if (parts.length === 2) return ["", parts[0]!, parts[1]!];
  if (parts.length === 3) return [parts[0]!, parts[1]!, parts[2]!];
  throw new PortSpecError(`invalid port spec: ${spec}`);
}

/**
 * Parse one `-p` value: `80`, `:80`, `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `8000-8001:80-81`,
 * `8000-8010:80` (any free port of the range), each optionally followed by `/tcp`, `/udp` or `/sctp`.
 */
export function parsePortSpec(spec: string): PortMapping[] {
  const [ip, hostText, containerWithProto] = splitSpec(spec.trim());
  const slash = containerWithProto.indexOf("/");
  const containerText = slash < 0 ? containerWithProto : containerWithProto.slice(0, slash);
  const proto = (slash < 0 ? "tcp" : containerWithProto.slice(slash + 1).toLowerCase()) as Protocol;
  if (!PROTOCOLS.includes(proto)) throw new PortSpecError(`invalid proto: ${proto} (in ${spec})`);
  if (ip !== "" && !isIpv4(ip)) {
    throw new PortSpecError(ip.includes(":") ? `IPv6 host addresses are not supported yet: ${ip}` : `invalid IP address: ${ip}`);
  }
  if (!containerText) throw new PortSpecError(`no port specified: ${spec}`);
  const [cStart, cEnd] = parseRange(containerText, "container", spec);
  if (cStart === 0) throw new PortSpecError(`invalid container port: ${containerText} (in ${spec})`);
  // Docker treats host port 0 like an empty one: pick any free port.
  const host = hostText === "" || hostText === "0" ? null : parseRange(hostText, "host", spec);
  if (host && host[0] === 0) throw new PortSpecError(`invalid host port: ${hostText} (in ${spec})`);

  const count = cEnd - cStart + 1;
  if (host && count > 1 && host[1] - host[0] + 1 !== count) {
    throw new PortSpecError(`invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`);
  }
  return Array.from({ length: count }, (_, i) => {
    let hostPort = "";
    if (host) hostPort = count === 1 && host[0] !== host[1] ? `${host[0]}-${host[1]}` : String(host[0] + i);
    return { containerPort: cStart + i, proto, hostIp: ip, hostPort };
  });
}

/** The API's `HostConfig.PortBindings` from parsed mappings, and back. */
export type PortBindingsMap = Record<string, { HostIp: string; HostPort: string }[] | null>;

export function toPortBindings(mappings: readonly PortMapping[]): PortBindingsMap {
  const out: PortBindingsMap = {};
  for (const m of mappings) (out[`${m.containerPort}/${m.proto}`] ??= [])!.push({ HostIp: m.hostIp, HostPort: m.hostPort });
  return out;
}

export function fromPortBindings(bindings: PortBindingsMap): PortMapping[] {
  const out: PortMapping[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const [portText, protoText = "tcp"] = key.split("/");
    const proto = protoText as Protocol;
    const containerPort = Number(portText);
    if (!PROTOCOLS.includes(proto) || !Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535) {
      throw new PortSpecError(`invalid port: ${key}`);
    }
    for (const b of list ?? [{ HostIp: "", HostPort: "" }]) {
      const hostPort = b.HostPort === "0" ? "" : b.HostPort ?? "";
      if (hostPort) parseRange(hostPort, "host", key);
      const hostIp = b.HostIp ?? "";
      if (hostIp !== "" && !isIpv4(hostIp)) throw new PortSpecError(`invalid IP address: ${hostIp}`);
      out.push({ containerPort, proto, hostIp, hostPort });
    }
  }
  return out;
}

// ---- choosing host ports ----

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const EADDRINUSE = 98;

function sockaddrIn(ip: string, port: number): Uint8Array {
  const addr = new Uint8Array(16);
  const view = new DataView(addr.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, port, false);
  addr.set(ipv4Bytes(ip === "" ? 0 : parseIpv4(ip)), 4);
  return addr;
}

/**
 * Can a listener bind hostIp:port right now? Tries a real bind (with SO_REUSEADDR for TCP, as listeners
 * use, so a port in TIME_WAIT counts as free). SCTP is not probed.
 */
export function isPortFree(proto: Protocol, hostIp: string, port: number): boolean {
  if (proto === "sctp") return true;
  const fd = socket(AF_INET, (proto === "tcp" ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  try {
    if (proto === "tcp") setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    bind(fd, sockaddrIn(hostIp, port));
    return true;
  } catch (err) {
    if (err instanceof SysError && err.errno === EADDRINUSE) return false;
    throw err;
  } finally {
    close(fd);
  }
}

/** The kernel's ephemeral port range, which Docker also uses for ports it picks itself. */
export function ephemeralPortRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // fall through to Docker's own default
  }
  return [49153, 60999];
}

export interface AllocatedPort {
  proto: Protocol;
  hostIp: string;
  hostPort: number;
}

/**
 * Host ports handed out by this daemon, plus a bind test against everything else on the host. A wildcard
 * ("") binding conflicts with every address on the same port and protocol.
 */
export class PortAllocator {
  private readonly owners = new Map<string, { owner: string; port: AllocatedPort }>();
  private readonly range: [number, number];
  private readonly netns: NetnsRef | null;

  constructor(options: { range?: [number, number]; /** where bind tests run; default the daemon's namespace */ netns?: NetnsRef | null } = {}) {
    this.range = options.range ?? ephemeralPortRange();
    this.netns = options.netns ?? null;
  }

  /** Allocate a host port for `mapping` (its HostPort may be empty, a port, or a range). Synchronous. */
  allocate(owner: string, mapping: PortMapping): AllocatedPort {
    const { proto, hostIp } = mapping;
    if (mapping.hostPort !== "" && !mapping.hostPort.includes("-")) {
      const port = Number(mapping.hostPort);
      if (this.taken(proto, hostIp, port) || !this.bindable(proto, hostIp, port)) throw new PortAllocatedError(hostIp, port, proto);
      return this.record(owner, { proto, hostIp, hostPort: port });
    }
    const [lo, hi] = mapping.hostPort ? (mapping.hostPort.split("-").map(Number) as [number, number]) : this.range;
    const span = hi - lo + 1;
    // Start at a random point so consecutive daemons/containers do not all race for the same port.
    const offset = mapping.hostPort ? 0 : Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const port = lo + ((offset + i) % span);
      if (!this.taken(proto, hostIp, port) && this.bindable(proto, hostIp, port)) return this.record(owner, { proto, hostIp, hostPort: port });
    }
    if (mapping.hostPort) throw new PortAllocatedError(hostIp, lo, proto);
    throw new PortSpecError(`no free host port in ${lo}-${hi} for ${proto}`);
  }

  /** Free every port of `owner`. */
  release(owner: string): void {
    for (const [key, entry] of this.owners) if (entry.owner === owner) this.owners.delete(key);
  }

  /** Record a port already in use by one of ours (after a daemon restart), without a bind test. */
  adopt(owner: string, port: AllocatedPort): void {
    this.record(owner, port);
  }

  private taken(proto: Protocol, hostIp: string, port: number): boolean {
    for (const { port: p } of this.owners.values()) {
      if (p.proto === proto && p.hostPort === port && (p.hostIp === hostIp || isWildcardHostIp(p.hostIp) || isWildcardHostIp(hostIp))) return true;
    }
    return false;
  }

  private bindable(proto: Protocol, hostIp: string, port: number): boolean {
    return this.netns === null ? isPortFree(proto, hostIp, port) : inNetns(this.netns, () => isPortFree(proto, hostIp, port));
  }

  private record(owner: string, port: AllocatedPort): AllocatedPort {
    this.owners.set(`${port.proto}/${port.hostIp}/${port.hostPort}`, { owner, port });
    return port;
  }
}
