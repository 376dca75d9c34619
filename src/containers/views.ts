/** The JSON shapes docker returns for containers: inspect (`GET /containers/{id}/json`) and the list summary. */
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../../drivers/exec/spec";
import { humanDuration } from "../util/duration";
import { etcFilePaths } from "./etc-files";
import type { MountPoint } from "../volumes/mount-spec";
import { commandLine, ZERO_TIME, type ContainerRecord } from "./types";

export interface ViewContext {
  containerDir: string;
  logPath: string;
  driver: string;
  execIds: string[];
  /** The container's `Mounts` (mounts.ts mountPointsOf). */
  mounts: MountPoint[];
  /** Size of the RW layer and of the whole root filesystem, when asked for. */
  sizes?: { rw: number; rootFs: number };
}

function networkSettings(c: ContainerRecord): Record<string, unknown> {
  const ns = c.networkSettings;
  const primary = Object.values(ns.Networks).find((n) => n.IPAddress);
  return {
    Bridge: ns.Bridge,
    SandboxID: ns.SandboxID,
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    Ports: ns.Ports,
    SandboxKey: ns.SandboxKey,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: primary?.EndpointID ?? "",
    Gateway: ns.Gateway,
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: ns.IPAddress,
    IPPrefixLen: ns.IPPrefixLen,
    IPv6Gateway: "",
    MacAddress: ns.MacAddress,
    Networks: ns.Networks,
  };
}

/** `NetworkSettings.Ports` as the list shows them: `[{IP, PrivatePort, PublicPort, Type}]`. */
function portList(c: ContainerRecord): Record<string, unknown>[] {
  return Object.entries(c.networkSettings.Ports).flatMap(([key, bindings]) => {
    const [port = "0", type = "tcp"] = key.split("/");
    if (!bindings) return [{ PrivatePort: Number(port), Type: type }];
    return bindings.map((b) => ({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: type }));
  });
}

export function inspectView(c: ContainerRecord, v: ViewContext): Record<string, unknown> {
  const [path = "", ...args] = commandLine(c.config);
  const files = etcFilePaths(v.containerDir);
  const privileged = c.hostConfig.Privileged;
  return {
    Id: c.id,
    Created: c.created,
    Path: path,
    Args: args,
    State: c.state,
    Image: c.imageId,
    ResolvConfPath: files.resolvConf,
    HostnamePath: files.hostname,
    HostsPath: files.hosts,
    LogPath: c.hostConfig.LogConfig.Type === "json-file" ? v.logPath : "",
    Name: `/${c.name}`,
    RestartCount: c.restartCount,
    Driver: v.driver,
    Platform: "linux",
    MountLabel: "",
    ProcessLabel: "",
    AppArmorProfile: "",
    ExecIDs: v.execIds.length > 0 ? v.execIds : null,
    HostConfig: {
      ...c.hostConfig,
      MaskedPaths: privileged ? [] : c.hostConfig.MaskedPaths ?? DEFAULT_MASKED_PATHS,
      ReadonlyPaths: privileged ? [] : c.hostConfig.ReadonlyPaths ?? DEFAULT_READONLY_PATHS,
    },
    GraphDriver: { Data: null, Name: v.driver },
    ...(v.sizes ? { SizeRw: v.sizes.rw, SizeRootFs: v.sizes.rootFs } : {}),
    Mounts: v.mounts,
    Config: c.config,
    NetworkSettings: networkSettings(c),
  };
}

/** "Up 2 seconds", "Up 5 minutes (Paused)", "Exited (3) 5 seconds ago", "Created", "Restarting (1) 2 seconds ago". */
export function statusText(c: ContainerRecord, nowMs = Date.now()): string {
  const s = c.state;
  const since = (t: string) => humanDuration(Math.max(0, nowMs - Date.parse(t)));
  switch (s.Status) {
    case "running":
      if (s.Health) return `Up ${since(s.StartedAt)} (${s.Health.Status === "starting" ? "health: starting" : s.Health.Status})`;
      return `Up ${since(s.StartedAt)}`;
    case "paused":
      return `Up ${since(s.StartedAt)} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${since(s.FinishedAt)} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "exited":
      return s.FinishedAt === ZERO_TIME ? "Created" : `Exited (${s.ExitCode}) ${since(s.FinishedAt)} ago`;
    default:
      return "Created";
  }
}

/** docker's Command column: the command line with arguments quoted where needed. */
function commandText(c: ContainerRecord): string {
  return commandLine(c.config).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'"'"'`)}'`)).join(" ");
}

/** The list entry's fields before `Status`: they change only with the record. */
function summaryHead(c: ContainerRecord): Record<string, unknown> {
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.config.Image || c.imageId,
    ImageID: c.imageId,
    Command: commandText(c),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: portList(c),
    Labels: c.config.Labels,
    State: c.state.Status,
  };
}

/** The list entry's fields after `Status`. */
function summaryTail(c: ContainerRecord, mounts: MountPoint[]): Record<string, unknown> {
  return {
    HostConfig: { NetworkMode: c.hostConfig.NetworkMode },
    NetworkSettings: { Networks: c.networkSettings.Networks },
    Mounts: mounts,
  };
}

export function summaryView(c: ContainerRecord, v: Pick<ViewContext, "sizes" | "mounts">): Record<string, unknown> {
  return {
    ...summaryHead(c),
    ...(v.sizes ? { SizeRw: v.sizes.rw, SizeRootFs: v.sizes.rootFs } : {}),
    Status: statusText(c),
    ...summaryTail(c, v.mounts),
  };
}

/**
 * A list entry as JSON text without the parts that change with the clock or cost a disk walk (`Status`, the sizes):
 * rendered once per record, completed per request by `summaryJson`.
 */
export interface RenderedSummary {
  /** `{"Id":…,"State":…` — the object opened, no trailing comma. */
  head: string;
  /** `"HostConfig":…}` — the rest of the object, closed. */
  tail: string;
}

export function renderSummary(c: ContainerRecord, mounts: MountPoint[]): RenderedSummary {
  return { head: JSON.stringify(summaryHead(c)).slice(0, -1), tail: JSON.stringify(summaryTail(c, mounts)).slice(1) };
}

/** The same JSON as `summaryView` (same keys, same order), from a rendered summary. */
export function summaryJson(c: ContainerRecord, rendered: RenderedSummary, sizes: ViewContext["sizes"], nowMs: number): string {
  const sizeFields = sizes ? `,"SizeRw":${sizes.rw},"SizeRootFs":${sizes.rootFs}` : "";
  return `${rendered.head}${sizeFields},"Status":${JSON.stringify(statusText(c, nowMs))},${rendered.tail}`;
}
