/**
 * `-v /host:/ctr[:opts]`, `--mount type=bind|tmpfs`, `--tmpfs /dst:opts` → the exec driver's mounts, plus the
 * `Mounts` entries inspect shows. Named volumes belong to the volume service (not there yet): refused with 400.
 */
import { existsSync } from "node:fs";
import { isAbsolute, posix } from "node:path";
import type { Mount, Propagation } from "../../drivers/exec/spec";
import { InvalidParameterError } from "../errors";
import type { HostConfig, MountRequest } from "./types";

/** The `Mounts` entry of inspect and of the container list. */
export interface MountPoint {
  Type: "bind" | "tmpfs";
  Source: string;
  Destination: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

export interface ParsedMount {
  mount: Mount;
  /** Null for `--tmpfs` mounts, which docker does not list. */
  point: MountPoint | null;
  /** A `-v` source that does not exist is created as a directory at start, like docker. */
  createSource: boolean;
}

const PROPAGATIONS: readonly Propagation[] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];
/** Accepted and without effect here (SELinux labels, macOS consistency hints, volume copy). */
const IGNORED_BIND_OPTIONS = new Set(["z", "Z", "nocopy", "consistent", "cached", "delegated"]);

function checkDestination(destination: string, spec: string): string {
  if (!posix.isAbsolute(destination)) throw new InvalidParameterError(`invalid mount config: mount path must be absolute: ${spec}`);
  const clean = posix.normalize(destination);
  if (clean === "/") throw new InvalidParameterError(`invalid specification: destination can't be '/' in '${spec}'`);
  return clean;
}

export function parseBind(spec: string): ParsedMount {
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3) throw new InvalidParameterError(`invalid volume specification: '${spec}'`);
  const [source, target, options = ""] = parts as [string, string, string?];
  if (!isAbsolute(source)) throw new InvalidParameterError(`named volumes are not supported yet: '${spec}' (use an absolute host path)`);
  const destination = checkDestination(target, spec);
  let readonly = false;
  let propagation: Propagation = "rprivate";
  for (const opt of options.split(",").filter(Boolean)) {
    if (opt === "ro" || opt === "rw") readonly = opt === "ro";
    else if ((PROPAGATIONS as readonly string[]).includes(opt)) propagation = opt as Propagation;
    else if (!IGNORED_BIND_OPTIONS.has(opt)) throw new InvalidParameterError(`invalid mode: ${opt}`);
  }
  return {
    mount: { type: "bind", source: posix.normalize(source), destination, readonly, propagation },
    point: { Type: "bind", Source: posix.normalize(source), Destination: destination, Mode: options, RW: !readonly, Propagation: propagation },
    createSource: true,
  };
}

export function parseTmpfs(target: string, options: string): ParsedMount {
  const destination = checkDestination(target, target);
  let readonly = false;
  const flags = { noexec: true, nosuid: true, nodev: true };
  const data: string[] = [];
  for (const opt of options.split(",").filter(Boolean)) {
    if (opt === "ro" || opt === "rw") readonly = opt === "ro";
    else if (opt === "exec" || opt === "noexec") flags.noexec = opt === "noexec";
    else if (opt === "suid" || opt === "nosuid") flags.nosuid = opt === "nosuid";
    else if (opt === "dev" || opt === "nodev") flags.nodev = opt === "nodev";
    else if (/^(size|mode|uid|gid|nr_inodes|nr_blocks|mpol)=/.test(opt)) data.push(opt);
    else throw new InvalidParameterError(`invalid tmpfs option ${JSON.stringify(opt)} for ${target}`);
  }
  return { mount: { type: "tmpfs", destination, readonly, ...flags, ...(data.length ? { data: data.join(",") } : {}) }, point: null, createSource: false };
}

export function parseMountRequest(m: MountRequest): ParsedMount {
  const spec = `${m.Type}:${m.Source ?? ""}:${m.Target}`;
  const destination = checkDestination(m.Target ?? "", spec);
  if (m.Type === "bind") {
    const source = m.Source ?? "";
    if (!isAbsolute(source)) throw new InvalidParameterError(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
    if (!existsSync(source)) throw new InvalidParameterError(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
    const propagation = (m.BindOptions?.Propagation || "rprivate") as Propagation;
    if (!PROPAGATIONS.includes(propagation)) throw new InvalidParameterError(`invalid propagation mode: ${propagation}`);
    const readonly = m.ReadOnly === true;
    return {
      mount: { type: "bind", source, destination, readonly, propagation },
      point: { Type: "bind", Source: source, Destination: destination, Mode: "", RW: !readonly, Propagation: propagation },
      createSource: false,
    };
  }
  if (m.Type === "tmpfs") {
    const data = [m.TmpfsOptions?.SizeBytes ? `size=${m.TmpfsOptions.SizeBytes}` : "", m.TmpfsOptions?.Mode ? `mode=${m.TmpfsOptions.Mode.toString(8)}` : ""].filter(Boolean);
    const parsed = parseTmpfs(destination, data.join(","));
    parsed.mount.readonly = m.ReadOnly === true;
    parsed.point = { Type: "tmpfs", Source: "", Destination: destination, Mode: "", RW: m.ReadOnly !== true, Propagation: "" };
    return parsed;
  }
  throw new InvalidParameterError(`mount type "${m.Type}" is not supported yet`);
}

/** Every mount of a container, in docker's order: binds, then --mount, then --tmpfs. */
export function containerMounts(h: HostConfig): ParsedMount[] {
  return [
    ...(h.Binds ?? []).map(parseBind),
    ...(h.Mounts ?? []).map(parseMountRequest),
    ...Object.entries(h.Tmpfs ?? {}).map(([target, options]) => parseTmpfs(target, options)),
  ];
}
