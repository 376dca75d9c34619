/**
 * A container's mounts from what the docker CLI sends — `HostConfig.Binds` (`-v /host:/ctr:ro`, `-v name:/ctr`),
 * `HostConfig.Mounts` (`--mount type=bind|volume|tmpfs,...`), `HostConfig.Tmpfs` (`--tmpfs /path:size=..`),
 * `Config.Volumes` (`-v /ctr` and the image's VOLUME entries) and mounts inherited through `--volumes-from` — as
 * one normalized list, validated with moby's rules and messages (volume/mounts/linux_parser.go). Pure functions:
 * volumes are named here, created and located by the VolumeService.
 *
 * Precedence follows moby's registerMountPoints: inherited mounts, overridden by binds, then `Mounts` (a
 * destination used twice among binds and mounts is an error), then anonymous volumes for `Config.Volumes` entries
 * nothing else is mounted on, then `--tmpfs` (an error next to a bind at the same place, otherwise it wins).
 */
import { existsSync } from "node:fs";
import { posix } from "node:path";
import type { Mount, Propagation } from "../../drivers/exec/spec";
import { InvalidParameterError } from "../errors";
import { validateVolumeName } from "./names";

export type MountType = "bind" | "volume" | "tmpfs";

/** One mount of a container, normalized. */
export interface MountEntry {
  type: MountType;
  /** bind: the host path; volume: its name, "" for a new anonymous volume; tmpfs: "". */
  source: string;
  /** Absolute, cleaned path in the container. */
  target: string;
  readonly: boolean;
  /** bind: how mount events propagate, "rprivate" unless asked; "" for the other types. */
  propagation: Propagation | "";
  /** volume: do not copy the image's content at `target` into the volume when it is empty. */
  nocopy: boolean;
  /** tmpfs: size in bytes and mode of the root, when given. */
  tmpfsSize?: number;
  tmpfsMode?: number;
  /** tmpfs: every option for the kernel and the mount flags (`size=64m`, `mode=1777`, `exec`, ...), as given. */
  tmpfsOptions?: string[];
  /** The mode field of `-v` as written; "z" for a named volume given without one. Shown as Mounts[].Mode. */
  mode: string;
  /** A `-v` host path that does not exist is created (as a directory) when the container starts. */
  createSource: boolean;
  /** bind: not recursive (`bind-recursive=disabled`). */
  nonRecursive: boolean;
  /** volume: labels and driver options for creating it if it does not exist (`volume-label`, `volume-opt`). */
  volumeLabels?: Record<string, string>;
  volumeDriverOptions?: Record<string, string>;
  /** Listed in inspect's `Mounts` (docker leaves `--tmpfs` mounts out). */
  listed: boolean;
}

/** `HostConfig.Mounts[]` as the docker CLI sends it. */
export interface ApiMount {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  Consistency?: string;
  BindOptions?: { Propagation?: string; NonRecursive?: boolean; CreateMountpoint?: boolean } | null;
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string> | null; DriverConfig?: { Name?: string; Options?: Record<string, string> | null } | null } | null;
  TmpfsOptions?: { SizeBytes?: number; Mode?: number; Options?: string[][] | null } | null;
}

/** Everything of a container request that makes mounts. */
export interface MountSources {
  Binds?: string[] | null;
  Mounts?: ApiMount[] | null;
  Tmpfs?: Record<string, string> | null;
  /** `Config.Volumes` (the container's and the image's). */
  Volumes?: Record<string, unknown> | null;
  /** The mounts of `--volumes-from` containers, from inheritMounts. */
  inherited?: MountEntry[];
}

/** The entry of inspect's and the container list's `Mounts`. */
export interface MountPoint {
  Type: MountType;
  Name?: string;
  Source: string;
  Destination: string;
  Driver?: string;
  Mode: string;
  RW: boolean;
  Propagation: string;
}

const PROPAGATIONS: readonly string[] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];
const RW_MODES = ["ro", "rw"];
const LABEL_MODES = ["z", "Z"];
const COPY_MODES = ["nocopy"];
const CONSISTENCY_MODES = ["consistent", "cached", "delegated"];
/** mount(2) flags `--tmpfs` accepts besides the filesystem's own `key=value` options. */
const TMPFS_FLAGS = ["ro", "rw", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime", "relatime", "strictatime", "nodiratime", "diratime", "sync", "async", "dirsync"];
const TMPFS_DATA = ["size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge", "inode64", "inode32"];

export function parseMounts(sources: MountSources, options: { bindSourceExists?: (path: string) => boolean } = {}): MountEntry[] {
  const byTarget = new Map<string, MountEntry>();
  for (const m of sources.inherited ?? []) byTarget.set(m.target, m);
  const explicit = new Set<string>();
  const tmpfsTargets = new Set(Object.keys(sources.Tmpfs ?? {}).map((t) => clean(t)));
  for (const raw of sources.Binds ?? []) {
    const m = parseBind(raw);
    if (explicit.has(m.target) || tmpfsTargets.has(m.target)) throw duplicate(m.target);
    explicit.add(m.target);
    byTarget.set(m.target, m);
  }
  for (const api of sources.Mounts ?? []) {
    const m = parseApiMount(api, options.bindSourceExists);
    if (explicit.has(m.target)) throw duplicate(api.Target ?? m.target);
    explicit.add(m.target);
    byTarget.set(m.target, m);
  }
  for (const target of Object.keys(sources.Volumes ?? {})) {
    const m = anonymousVolume(target);
    if (!byTarget.has(m.target) && !tmpfsTargets.has(m.target)) byTarget.set(m.target, m);
  }
  for (const [target, opts] of Object.entries(sources.Tmpfs ?? {})) {
    const m = parseTmpfs(target, opts);
    byTarget.set(m.target, m);
  }
  return [...byTarget.values()];
}

/** One `-v` / `HostConfig.Binds` entry: `/host:/ctr[:mode]`, `name:/ctr[:mode]` or `/ctr`. */
export function parseBind(raw: string): MountEntry {
  const parts = splitN(raw, ":", 4);
  if (parts[0] === "") throw invalidSpec(raw);
  let source = "";
  let target: string;
  let mode = "";
  switch (parts.length) {
    case 1:
      target = parts[0]!;
      break;
    case 2:
      // "/foo:rw" is a destination with a mode, which a volume cannot have.
      if (validMode(parts[1]!)) throw invalidSpec(raw);
      [source, target] = parts as [string, string];
      break;
    case 3:
      [source, target, mode] = parts as [string, string, string];
      break;
    default:
      throw invalidSpec(raw);
  }
  if (!validMode(mode)) throw new InvalidParameterError(`invalid mode: ${mode}`);
  const words = mode.split(",");
  const type: MountType = posix.isAbsolute(source) ? "bind" : "volume";
  const wrap = (err: InvalidParameterError) => new InvalidParameterError(`${invalidSpec(raw).message}: ${err.message}`);
  const checked = checkTarget(type, target);
  if (checked) throw wrap(checked);
  if (type === "volume" && source !== "") validateVolumeName(source);
  const propagation = words.find((w) => PROPAGATIONS.includes(w)) as Propagation | undefined;
  return {
    type,
    source: type === "bind" ? clean(source) : source,
    target: clean(target),
    readonly: words.includes("ro"),
    propagation: type === "bind" ? (propagation ?? "rprivate") : "",
    nocopy: words.includes("nocopy"),
    mode: type === "volume" && mode === "" ? "z" : mode,
    createSource: type === "bind",
    nonRecursive: false,
    listed: true,
  };
}

/** One `HostConfig.Mounts` entry (`--mount`). A bind source must exist. */
export function parseApiMount(m: ApiMount, bindSourceExists: (path: string) => boolean = existsSync): MountEntry {
  const type = m.Type ?? "";
  const fail = (why: string) => new InvalidParameterError(`invalid mount config for type "${type}": ${why}`);
  const target = m.Target ?? "";
  if (target === "") throw fail("field Target must not be empty");
  const checked = checkTarget(type, target);
  if (checked) throw checked;
  const base = { target: clean(target), readonly: m.ReadOnly === true, mode: "", createSource: false, listed: true };
  switch (type) {
    case "bind": {
      const source = m.Source ?? "";
      if (source === "") throw fail("field Source must not be empty");
      const propagation = m.BindOptions?.Propagation ?? "";
      if (propagation !== "" && !PROPAGATIONS.includes(propagation)) throw fail(`invalid propagation mode: ${propagation}`);
      if (m.VolumeOptions) throw fail("field VolumeOptions must not be specified");
      if (!posix.isAbsolute(source)) throw fail(`invalid mount path: '${source}' mount path must be absolute`);
      if (!bindSourceExists(source)) throw fail(`bind source path does not exist: ${source}`);
      return {
        ...base,
        type,
        source: clean(source),
        propagation: (propagation || "rprivate") as Propagation,
        nocopy: false,
        nonRecursive: m.BindOptions?.NonRecursive === true,
      };
    }
    case "volume": {
      if (m.BindOptions) throw fail("field BindOptions must not be specified");
      const source = m.Source ?? "";
      if (source === "" && m.ReadOnly) throw fail("must not set ReadOnly mode when using anonymous volumes");
      if (source !== "") validateVolumeName(source);
      const driver = m.VolumeOptions?.DriverConfig?.Name;
      if (driver && driver !== "local") throw fail(`volume driver "${driver}" is not supported (only "local")`);
      return {
        ...base,
        type,
        source,
        propagation: "",
        nocopy: m.VolumeOptions?.NoCopy === true,
        nonRecursive: false,
        mode: source === "" ? "" : "z",
        ...(m.VolumeOptions?.Labels ? { volumeLabels: m.VolumeOptions.Labels } : {}),
        ...(m.VolumeOptions?.DriverConfig?.Options ? { volumeDriverOptions: m.VolumeOptions.DriverConfig.Options } : {}),
      };
    }
    case "tmpfs": {
      if (m.BindOptions) throw fail("field BindOptions must not be specified");
      if (m.Source) throw fail("field Source must not be specified");
      const options: string[] = [];
      if (m.TmpfsOptions?.SizeBytes) options.push(`size=${sizeWithSuffix(m.TmpfsOptions.SizeBytes)}`);
      if (m.TmpfsOptions?.Mode) options.push(`mode=${m.TmpfsOptions.Mode.toString(8)}`);
      for (const option of m.TmpfsOptions?.Options ?? []) options.push(option.join("="));
      return {
        ...base,
        type,
        source: "",
        propagation: "",
        nocopy: false,
        nonRecursive: false,
        ...(m.TmpfsOptions?.SizeBytes ? { tmpfsSize: m.TmpfsOptions.SizeBytes } : {}),
        ...(m.TmpfsOptions?.Mode ? { tmpfsMode: m.TmpfsOptions.Mode } : {}),
        tmpfsOptions: options,
      };
    }
    default:
      throw fail("mount type unknown");
  }
}

/** One `HostConfig.Tmpfs` entry (`--tmpfs /path:size=64m,mode=755`). */
export function parseTmpfs(target: string, options: string): MountEntry {
  const checked = checkTarget("tmpfs", target);
  if (checked) throw checked;
  const words = options.split(",").filter(Boolean);
  let size: number | undefined;
  let mode: number | undefined;
  for (const word of words) {
    const [key = "", value = ""] = word.split("=", 2) as [string, string?];
    if (word.includes("=") ? !TMPFS_DATA.includes(key) : !TMPFS_FLAGS.includes(word) && !TMPFS_DATA.includes(word)) {
      throw new InvalidParameterError(`invalid tmpfs option ${JSON.stringify(word)} for ${target}`);
    }
    if (key === "size") size = parseSize(value, target);
    if (key === "mode") {
      if (!/^[0-7]{1,4}$/.test(value)) throw new InvalidParameterError(`invalid tmpfs mode ${JSON.stringify(value)} for ${target}`);
      mode = parseInt(value, 8);
    }
  }
  return {
    type: "tmpfs",
    source: "",
    target: clean(target),
    readonly: words.includes("ro"),
    propagation: "",
    nocopy: false,
    ...(size !== undefined ? { tmpfsSize: size } : {}),
    ...(mode !== undefined ? { tmpfsMode: mode } : {}),
    tmpfsOptions: words,
    mode: "",
    createSource: false,
    nonRecursive: false,
    listed: false,
  };
}

/** `--volumes-from container[:ro|rw]`: the container and the mode (moby's ParseVolumesFrom). */
export function parseVolumesFrom(spec: string): { container: string; mode: string } {
  if (spec === "") throw new InvalidParameterError("volumes-from specification cannot be an empty string");
  const colon = spec.indexOf(":");
  const container = colon < 0 ? spec : spec.slice(0, colon);
  const mode = colon < 0 ? "" : spec.slice(colon + 1);
  if (mode === "") return { container, mode: "rw" };
  const words = mode.split(",");
  // Propagation and copy modes come from the original mount, not from here.
  if (!validMode(mode) || words.some((w) => PROPAGATIONS.includes(w) || COPY_MODES.includes(w))) throw new InvalidParameterError(`invalid mode: ${mode}`);
  return { container, mode };
}

/** The mounts a `--volumes-from` container passes on: read-only if either side says so, never copied into. */
export function inheritMounts(mounts: readonly MountEntry[], mode: string): MountEntry[] {
  const readonly = mode.split(",").includes("ro");
  return mounts.filter((m) => m.type !== "tmpfs").map((m) => ({ ...m, readonly: m.readonly || readonly, nocopy: true, createSource: false }));
}

/**
 * What the exec driver mounts for `entry`. `hostSource` is the host path for a bind, the volume's `_data`
 * directory for a volume (VolumeService.acquire), ignored for tmpfs.
 */
export function launchMount(entry: MountEntry, hostSource: string): Mount {
  if (entry.type === "tmpfs") {
    const flags = { readonly: entry.readonly, noexec: true, nosuid: true, nodev: true };
    const data: string[] = [];
    for (const word of entry.tmpfsOptions ?? []) {
      if (word === "exec" || word === "noexec") flags.noexec = word === "noexec";
      else if (word === "suid" || word === "nosuid") flags.nosuid = word === "nosuid";
      else if (word === "dev" || word === "nodev") flags.nodev = word === "nodev";
      else if (word === "ro" || word === "rw") flags.readonly = word === "ro";
      else data.push(word);
    }
    return { type: "tmpfs", destination: entry.target, ...flags, ...(data.length ? { data: data.join(",") } : {}) };
  }
  return {
    type: "bind",
    source: hostSource,
    destination: entry.target,
    readonly: entry.readonly,
    recursive: !entry.nonRecursive,
    propagation: entry.propagation || "rprivate",
  };
}

/** The `Mounts` entry inspect shows for `entry`; null for what docker does not list (`--tmpfs`). */
export function mountPoint(entry: MountEntry, hostSource: string, volumeName = entry.source): MountPoint | null {
  if (!entry.listed) return null;
  const common = { Destination: entry.target, Mode: entry.mode, RW: !entry.readonly, Propagation: entry.propagation };
  if (entry.type === "volume") return { Type: "volume", Name: volumeName, Source: hostSource, Driver: "local", ...common };
  return { Type: entry.type, Source: entry.type === "bind" ? hostSource : "", ...common };
}

function anonymousVolume(target: string): MountEntry {
  const checked = checkTarget("volume", target);
  if (checked) throw checked;
  return { type: "volume", source: "", target: clean(target), readonly: false, propagation: "", nocopy: false, mode: "", createSource: false, nonRecursive: false, listed: true };
}

/** moby's checks of a mount's destination, as an error (not thrown, so callers can wrap it). */
function checkTarget(type: string, target: string): InvalidParameterError | null {
  const fail = (why: string) => new InvalidParameterError(`invalid mount config for type "${type}": ${why}`);
  if (clean(target) === "/") return fail("invalid specification: destination can't be '/'");
  if (!posix.isAbsolute(target)) return fail(`invalid mount path: '${target}' mount path must be absolute`);
  return null;
}

/** moby's linuxValidMountMode: known words only, at most one of each kind. */
function validMode(mode: string): boolean {
  if (mode === "") return true;
  const counts = [0, 0, 0, 0, 0];
  for (const word of mode.split(",")) {
    const kind = [RW_MODES, LABEL_MODES, PROPAGATIONS, COPY_MODES, CONSISTENCY_MODES].findIndex((list) => list.includes(word));
    if (kind < 0) return false;
    counts[kind]!++;
  }
  return counts.every((n) => n <= 1);
}

/** Go's strings.SplitN. */
function splitN(text: string, separator: string, n: number): string[] {
  const parts = text.split(separator);
  return parts.length <= n ? parts : [...parts.slice(0, n - 1), parts.slice(n - 1).join(separator)];
}

/** A byte count as the kernel's tmpfs size option, with the largest suffix that divides it (moby does so). */
function sizeWithSuffix(bytes: number): string {
  for (const [suffix, unit] of [["g", 2 ** 30], ["m", 2 ** 20], ["k", 2 ** 10]] as const) if (bytes % unit === 0) return `${bytes / unit}${suffix}`;
  return String(bytes);
}

/** tmpfs sizes: bytes with an optional k/m/g suffix (a `%` of RAM is left to the kernel). */
function parseSize(value: string, target: string): number | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (!m) {
    if (/^\d+%$/.test(value)) return undefined;
    throw new InvalidParameterError(`invalid tmpfs size ${JSON.stringify(value)} for ${target}`);
  }
  const unit = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Number(m[1]) * unit;
}

/** Go's path.Clean: normalized, without a trailing slash (except for "/" itself). */
function clean(path: string): string {
  const normal = posix.normalize(path);
  return normal.length > 1 ? normal.replace(/\/+$/, "") : normal;
}

function invalidSpec(raw: string): InvalidParameterError {
  return new InvalidParameterError(`invalid volume specification: '${raw}'`);
}

function duplicate(target: string): InvalidParameterError {
  return new InvalidParameterError(`Duplicate mount point: ${target}`);
}
