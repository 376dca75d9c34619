/**
 * Paths inside a container's root filesystem, resolved the way `docker cp` does (moby's ResolvePath and
 * FollowSymlinkInScope) but by the kernel and through fds: every directory is opened with
 * openat2(RESOLVE_IN_ROOT) relative to the root (ConfinedRoot), so a symlink — absolute, or a chain of ".." — can
 * only ever lead to another place inside the root, and the final component is looked at with lstat relative to the
 * directory fd already held, never by a path string that could be redirected between the check and the use
 * (CVE-2018-15664).
 */
import { readlinkSync, realpathSync, type BigIntStats } from "node:fs";
import { posix } from "node:path";
import { close } from "../../drivers/libc/libc";
import { rfc3339Nano } from "../containers/time";
import { InvalidParameterError, NotFoundError } from "../errors";
import { ConfinedRoot } from "../layers/confined-root";
import { fstat, lstatAt, readlinkAt } from "./fs-at";

/** A container's mounted root filesystem, and the name errors show for it. */
export interface ContainerFs {
  root: string;
  container: string;
  /**
   * Where `root` is in the container when it is a mount's directory (a volume or bind mounted at `/data`): paths
   * are resolved inside `root`, and names, messages and link targets are shown as the container sees them.
   */
  base?: string;
}

/** `X-Docker-Container-Path-Stat`, as moby's ContainerPathStat. */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits. */
  mode: number;
  /** RFC 3339 with nanoseconds. */
  mtime: string;
  /** For a symlink: where it leads, resolved inside the container (absolute), else "". */
  linkTarget: string;
}

/**
 * A resolved path: the node `name` in the open directory `dirFd` (at container path `dirPath`), as lstat saw it.
 * For the root itself, `name` is "." and `dirFd` is the root. The holder closes it.
 */
export interface Located {
  dirFd: number;
  dirPath: string[];
  name: string;
  stat: BigIntStats;
  close(): void;
}

const MAX_SYMLINK_HOPS = 40;
const S_IFMT = 0o170000;

/** The root directory of a container, opened once; close() when done. */
export class ContainerRoot {
  readonly confined: ConfinedRoot;
  private readonly hostPath: string;

  constructor(readonly fs: ContainerFs) {
    this.confined = new ConfinedRoot(fs.root);
    this.hostPath = realpathSync(fs.root);
  }

  close(): void {
    this.confined.close();
  }

  notFound(path: string): NotFoundError {
    return new NotFoundError(`Could not find the file ${this.shown(path)} in container ${this.fs.container}`);
  }

  /** A request path inside `root` as the container names it (see ContainerFs.base). */
  shown(path: string): string {
    return this.fs.base ? `${this.fs.base}${absolutePath(path)}` : path;
  }

  /** The open directory at container path `components` (symlinks followed inside the root), or null if missing. */
  openDir(components: readonly string[], create = false): number | null {
    try {
      return this.confined.openDir(components, create);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "ENOTDIR") throw new InvalidParameterError(`${containerPath(components)}: not a directory`);
      if (code === "ELOOP") throw new InvalidParameterError(`${containerPath(components)}: too many levels of symbolic links`);
      // A directory to create is a symlink that leads nowhere.
      if (code === "EEXIST") throw new InvalidParameterError(`${containerPath(components)}: cannot create a directory through a dangling symlink`);
      throw err;
    }
  }

  /** Where the open directory `dirFd` is, as a container path. */
  pathOf(dirFd: number): string[] {
    // The kernel's name for the directory the fd holds: no path string gets resolved again.
    const host = readlinkSync(`/proc/self/fd/${dirFd}`);
    if (host === this.hostPath) return [];
    if (!host.startsWith(`${this.hostPath}/`)) throw new InvalidParameterError("path resolved outside the container");
    return host.slice(this.hostPath.length + 1).split("/");
  }

  /**
   * Resolve `path` (absolute, from the request). Symlinks in the directories are followed inside the root; the
   * final component is followed too when `followFinal` (the request ended in "/" or "/.", or it is an extraction
   * point). Throws NotFoundError when something is missing.
   */
  locate(path: string, followFinal: boolean): Located {
    let components = cleanComponents(path);
    for (let hop = 0; hop <= MAX_SYMLINK_HOPS; hop++) {
      if (components.length === 0) {
        const dirFd = this.openDir([])!;
        return { dirFd, dirPath: [], name: ".", stat: fstat(dirFd), close: () => close(dirFd) };
      }
      const dirFd = this.openDir(components.slice(0, -1));
      if (dirFd === null) throw this.notFound(path);
      let target: string | null;
      let dirPath: string[];
      try {
        const name = components.at(-1)!;
        const stat = lstatAt(dirFd, name);
        if (stat === null) throw this.notFound(path);
        dirPath = this.pathOf(dirFd);
        if (!followFinal || !isSymlink(stat)) return { dirFd, dirPath, name, stat, close: () => close(dirFd) };
        target = readlinkOrNull(dirFd, name);
      } catch (err) {
        close(dirFd);
        throw err;
      }
      close(dirFd);
      if (target === null) throw this.notFound(path);
      components = cleanComponents(target.startsWith("/") ? target : `/${[...dirPath, target].join("/")}`);
    }
    throw new InvalidParameterError(`${path}: too many levels of symbolic links`);
  }

  /** Where `path` finally leads, as a container path, following every symlink in the root; missing parts stay as written. */
  resolveFully(path: string): string {
    let components = cleanComponents(path);
    for (let hop = 0; hop <= MAX_SYMLINK_HOPS && components.length > 0; hop++) {
      const dirFd = this.openDir(components.slice(0, -1));
      if (dirFd === null) break;
      try {
        const name = components.at(-1)!;
        const dirPath = this.pathOf(dirFd);
        const stat = lstatAt(dirFd, name);
        const target = stat !== null && isSymlink(stat) ? readlinkOrNull(dirFd, name) : null;
        if (target === null) return containerPath([...dirPath, name]);
        components = cleanComponents(target.startsWith("/") ? target : `/${[...dirPath, target].join("/")}`);
      } finally {
        close(dirFd);
      }
    }
    return containerPath(components);
  }

  private shownTarget(resolved: string): string {
    if (!this.fs.base) return resolved;
    return resolved === "/" ? this.fs.base : `${this.fs.base}${resolved}`;
  }

  /** The stat docker reports for request path `path`, which resolved to `located`. */
  describe(path: string, located: Located): PathStat {
    return {
      name: goBase(absolutePath(this.shown(path))),
      size: Number(located.stat.size),
      mode: goFileMode(located.stat),
      mtime: rfc3339Nano(located.stat.mtimeNs),
      linkTarget: isSymlink(located.stat) ? this.shownTarget(this.resolveFully(path)) : "",
    };
  }
}

/** Components of `path` cleaned like Go's filepath.Join("/", path): "." dropped, ".." stops at the root. */
function cleanComponents(path: string): string[] {
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

export function containerPath(components: readonly string[]): string {
  return `/${components.join("/")}`;
}

/** Whether a request path asks for what its final symlink points to: it ends in "/" or "/." (moby's ResolvePath). */
export function followsFinal(path: string): boolean {
  return path.endsWith("/") || path.endsWith("/.") || path === ".";
}

/** The cleaned absolute path, keeping a trailing "/." or "/" (moby's PreserveTrailingDotOrSeparator). */
export function absolutePath(path: string): string {
  const clean = posix.join("/", path);
  if ((path.endsWith("/.") || path === ".") && !clean.endsWith("/.")) return clean === "/" ? "/." : `${clean}/.`;
  if (path.endsWith("/") && !clean.endsWith("/")) return `${clean}/`;
  return clean;
}

/** Go's filepath.Base: the last element after trailing slashes are dropped; "/" for the root. */
export function goBase(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "/";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** The target of the symlink `name`, or null when it was swapped for something else meanwhile. */
function readlinkOrNull(dirFd: number, name: string): string | null {
  try {
    return readlinkAt(dirFd, name);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOENT" || code === "EINVAL") return null;
    throw err;
  }
}

function isSymlink(stat: BigIntStats): boolean {
  return (Number(stat.mode) & S_IFMT) === 0o120000;
}

/** Go's os.FileMode for an lstat result: permission bits plus Go's type and special bits. */
function goFileMode(stat: BigIntStats): number {
  const mode = Number(stat.mode);
  let bits = mode & 0o777;
  switch (mode & S_IFMT) {
    case 0o040000:
      bits |= 2 ** 31; // ModeDir
      break;
    case 0o120000:
      bits |= 1 << 27; // ModeSymlink
      break;
    case 0o020000:
      bits |= (1 << 26) | (1 << 21); // ModeDevice | ModeCharDevice
      break;
    case 0o060000:
      bits |= 1 << 26; // ModeDevice
      break;
    case 0o010000:
      bits |= 1 << 25; // ModeNamedPipe
      break;
    case 0o140000:
      bits |= 1 << 24; // ModeSocket
      break;
  }
  if (mode & 0o4000) bits |= 1 << 23; // ModeSetuid
  if (mode & 0o2000) bits |= 1 << 22; // ModeSetgid
  if (mode & 0o1000) bits |= 1 << 20; // ModeSticky
  return bits >>> 0;
}

/** The `X-Docker-Container-Path-Stat` header value: base64 of the JSON stat. */
export function encodePathStat(stat: PathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString("base64");
}
