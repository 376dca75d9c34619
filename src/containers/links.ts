import { ConflictError, InvalidParameterError, NotFoundError } from "../errors";
import type { ContainerRecord } from "./types";

/** A linked container as the one being started sees it. */
export interface LinkTarget {
  /** Name of the target, without the slash. */
  name: string;
  alias: string;
  ip: string;
  /** `80/tcp` keys of the target's ExposedPorts. */
  exposed: string[];
  /** The target's own environment (`KEY=value`). */
  env: string[];
  /**
   * A link on the default bridge (docker's legacy links: environment variables and hosts entries). On a
   * user-defined network a link only names the target, as docker's embedded DNS alias does.
   */
  legacy: boolean;
}

/** `HostConfig.Links` entries: `name:alias`, `name`, or docker's stored form `/name:/self/alias`. */
export function parseLinks(links: readonly string[] | null | undefined): { name: string; alias: string }[] {
  return (links ?? []).map((link) => {
    const [rawName, rawAlias] = link.split(":", 2) as [string, string | undefined];
    const name = rawName.replace(/^\//, "");
    const alias = (rawAlias ?? name).split("/").pop()!;
    if (!name || !alias) throw new InvalidParameterError(`invalid link ${JSON.stringify(link)}: use name:alias`);
    return { name, alias };
  });
}

/**
 * Resolve the links of `c`: every target must be running, with an address on the default bridge (legacy links)
 * or on the user-defined network `c` joins. `find` looks a container up by name or id.
 */
export function resolveLinks(c: ContainerRecord, find: (ref: string) => ContainerRecord | null): LinkTarget[] {
  const mode = c.hostConfig.NetworkMode;
  const legacy = mode === "default" || mode === "bridge";
  return parseLinks(c.hostConfig.Links).map(({ name, alias }) => {
    const target = find(name);
    if (!target) throw new NotFoundError(`could not get container for ${name}`);
    const networks = Object.values(target.networkSettings.Networks);
    const ip = legacy
      ? target.networkSettings.IPAddress || networks.find((n) => n.IPAddress)?.IPAddress
      : (target.networkSettings.Networks[mode] ?? networks.find((n) => n.NetworkID === mode))?.IPAddress;
    if (!target.state.Running || !ip) throw new ConflictError(`Cannot link to a non running container: /${target.name} AS /${c.name}/${alias}`);
    return { name: target.name, alias, ip, exposed: Object.keys(target.config.ExposedPorts ?? {}), env: target.config.Env ?? [], legacy };
  });
}

const NOT_EXPORTED = new Set(["HOME", "PATH", "HOSTNAME"]);

/** Docker's link variables: ALIAS_NAME, ALIAS_PORT*, ALIAS_ENV_* (the target's own environment). */
export function linkEnv(self: string, links: readonly LinkTarget[]): string[] {
  const out: string[] = [];
  for (const l of links) {
    if (!l.legacy) continue;
    const prefix = l.alias.toUpperCase().replace(/[^A-Z0-9_]/g, "_");
    out.push(`${prefix}_NAME=/${self}/${l.alias}`);
    const ports = l.exposed
      .map((key) => {
        const [port, proto = "tcp"] = key.split("/") as [string, string?];
        return { port: Number(port), proto };
      })
      .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
    if (ports[0]) out.push(`${prefix}_PORT=${ports[0].proto}://${l.ip}:${ports[0].port}`);
    for (const { port, proto } of ports) {
      const key = `${prefix}_PORT_${port}_${proto.toUpperCase()}`;
      out.push(`${key}=${proto}://${l.ip}:${port}`, `${key}_ADDR=${l.ip}`, `${key}_PORT=${port}`, `${key}_PROTO=${proto}`);
    }
    for (const entry of l.env) {
      const eq = entry.indexOf("=");
      const key = eq === -1 ? entry : entry.slice(0, eq);
      if (!NOT_EXPORTED.has(key)) out.push(`${prefix}_ENV_${key}=${eq === -1 ? "" : entry.slice(eq + 1)}`);
    }
  }
  return out;
}

/** `--add-host`-style entries (`names:ip`) naming each target by its alias and its own name. */
export function linkHostEntries(links: readonly LinkTarget[]): string[] {
  return links.map((l) => `${l.alias === l.name ? l.name : `${l.alias} ${l.name}`}:${l.ip}`);
}
