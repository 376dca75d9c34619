/**
 * A new container from a create request: its name, merged config, checked HostConfig, warnings — and the
 * /etc files it gets in its directory. The service then prepares its RW layer and stores it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { hostname as hostHostname } from "node:os";
import { ALL_CAPABILITIES, capabilityNames, hostCapabilities } from "../../drivers/exec/caps";
import { ConflictError, InvalidParameterError } from "../errors";
import type { ImageLookup, ImageRecord } from "../images/types";
import { mergeConfig, type CreateRequest } from "./create-config";
import { etcFilePaths, extraHostLines, hostsFileFor, readHostResolvConf, resolvConfFor } from "./etc-files";
import { normalizeHostConfig, type HostLimits } from "./host-config";
import { rotationOf } from "./logs/options";
import { checkHealthConfig } from "./health";
import { generateName, normalizeName } from "./names";
import type { ContainerNetworks } from "./network";
import { rlimitsOf } from "./run-spec";
import { processSecurity } from "./security";
import { nowRfc3339 } from "./time";
import { emptyNetworkSettings, initialState, type ContainerRecord, type HostConfig } from "./types";

export interface NewContainerDeps {
  images: ImageLookup;
  hostLimits: HostLimits;
  /** The daemon's default log options (`log-opts` of daemon.json). */
  logOpts: Record<string, string>;
  networks: ContainerNetworks;
  /** The id of the container holding a name, or null. */
  ownerOfName(name: string): string | null;
}

const ALL_CAPABILITIES_MASK = (1n << BigInt(ALL_CAPABILITIES.length)) - 1n;

export function checkNameFree(name: string, ownerOfName: (name: string) => string | null): void {
  const owner = ownerOfName(name);
  if (owner)
    throw new ConflictError(`Conflict. The container name "/${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`);
}

/** Capabilities asked for that this host cannot grant are left out (the container still starts): say so. */
function capabilityWarnings(h: HostConfig): string[] {
  const missing = h.Privileged ? capabilityNames(ALL_CAPABILITIES_MASK & ~hostCapabilities()) : processSecurity(h).unavailable;
  return missing.length === 0 ? [] : [`this host cannot grant ${missing.join(", ")}: the container runs without ${missing.length === 1 ? "it" : "them"}`];
}

function randomId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

export function newContainerRecord(req: CreateRequest, name: string | undefined, deps: NewContainerDeps): { record: ContainerRecord; image: ImageRecord; warnings: string[] } {
  if (!req.Image) throw new InvalidParameterError("Config.Image must be set");
  const image = deps.images.resolve(req.Image);
  const warnings: string[] = [];
  const id = randomId();
  const wanted = name ? normalizeName(name) : undefined;
  if (wanted) checkNameFree(wanted, deps.ownerOfName);
  const hostConfig = normalizeHostConfig(req.HostConfig, deps.hostLimits, warnings);
  if (hostConfig.UTSMode === "host" && req.Hostname) throw new InvalidParameterError("Conflicting options: hostname and the UTS mode");
  rlimitsOf(hostConfig.Ulimits);
  warnings.push(...capabilityWarnings(hostConfig));
  if (hostConfig.LogConfig.Type === "json-file") hostConfig.LogConfig.Config = { ...deps.logOpts, ...hostConfig.LogConfig.Config };
  rotationOf(hostConfig.LogConfig.Config);
  deps.networks.check(hostConfig.NetworkMode);
  // With the host's network or UTS namespace a container gets the host's name, as in docker.
  const hostname = req.Hostname || (hostConfig.NetworkMode === "host" || hostConfig.UTSMode === "host" ? hostHostname() : "");
  const record: ContainerRecord = {
    id,
    name: wanted ?? generateName((n) => deps.ownerOfName(n) !== null),
    created: nowRfc3339(),
    imageId: image.id,
    config: mergeConfig({ ...req, Hostname: hostname }, image.config.config ?? {}, id),
    hostConfig,
    state: initialState(),
    restartCount: 0,
    manuallyStopped: false,
    networkSettings: emptyNetworkSettings(),
    networkingConfig: req.NetworkingConfig ?? {},
    mounts: [],
  };
  record.networkSettings = deps.networks.idleSettings(record);
  checkHealthConfig(record.config.Healthcheck);
  return { record, image, warnings };
}

function readFileOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/** hostname, hosts and resolv.conf in the container's directory (bind-mounted over /etc at start). */
export function writeEtcFiles(c: ContainerRecord, dir: string, daemonDns: string[], networks: ContainerNetworks): void {
  const files = etcFilePaths(dir);
  const h = c.hostConfig;
  const hostNetwork = h.NetworkMode === "host";
  writeFileSync(files.hostname, `${c.config.Hostname}\n`, { mode: 0o644 });
  const extra = h.ExtraHosts ?? [];
  // With the host's network the host's own names apply.
  const hosts = hostNetwork ? readFileOr("/etc/hosts", hostsFileFor([])).replace(/\n*$/, "\n") + extraHostLines(extra).map((l) => `${l}\n`).join("") : hostsFileFor(extra);
  writeFileSync(files.hosts, hosts, { mode: 0o644 });
  // On a network with the embedded DNS, containers ask it (it forwards to --dns / the host's resolvers).
  const embedded = hostNetwork ? null : networks.embeddedDns(h.NetworkMode);
  const servers = embedded ? [embedded] : h.Dns.length > 0 ? h.Dns : daemonDns.length > 0 ? daemonDns : hostNetwork ? [] : networks.nameservers(h.NetworkMode);
  writeFileSync(files.resolvConf, resolvConfFor(readHostResolvConf(), { servers, search: h.DnsSearch, options: h.DnsOptions }, hostNetwork), { mode: 0o644 });
}
