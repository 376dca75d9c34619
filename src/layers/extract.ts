/**
 * Applies an uncompressed layer tar to a directory.
 *
 * Input is any `AsyncIterable<Uint8Array>`: a web `ReadableStream` (what `fetch` gives; Bun iterates it) or a node
 * `Readable` both qualify, so neither side converts. The whole stream is consumed, so a hash computed around it
 * covers the full tar.
 *
 * Confinement (ARCHITECTURE.md rule 4): entry names are cleaned lexically (a leading "/" is dropped like Docker
 * does, "a/../b" is "b") and an entry whose name or hardlink target climbs above the root is refused. Parent
 * directories are resolved inside the root by the kernel (see ConfinedRoot): a symlink met on the way is
 * followed as if the root were "/", so it can never lead outside. The final component is never followed: an
 * existing file, symlink or directory in the way is removed (a directory is kept only when the entry is a
 * directory too) and the new node is created with O_EXCL/O_NOFOLLOW semantics. Device nodes are created, never
 * opened. A hardlink must name an existing non-directory inside the root, and not a symlink that points outside
 * it. Any refused entry fails the whole apply with a LayerError naming it; the caller deletes the partial layer.
 * Lookups and metadata changes are safe even if the tree changed under them, but removing what is in the way
 * (rm -r) assumes nobody else writes to the tree during the apply: true of a layer being built, not of a running
 * container's root filesystem.
 *
 * Whiteouts follow the GraphDriver's mode: "overlay" records them as overlayfs does (a 0/0 character device for
 * `.wh.<name>`, `trusted.overlay.opaque=y` for `.wh..wh..opq`); "delete" applies them to a full copy of the parent
 * by removing the path, or every entry of the opaque directory not written by this layer. `trusted.overlay.*`
 * attributes found in the archive are dropped: only whiteout handling may set them.
 */
import { chmodSync, constants, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, type Stats } from "node:fs";
import type { WhiteoutMode } from "../../drivers/graph/types";
import {
  close,
  fchmod,
  fchown,
  futimensNs,
  lchown,
  lsetxattr,
  lutimesNs,
  makedev,
  mknod,
  O,
  open,
  openat,
  SysError,
  writeFd,
} from "../../drivers/libc/libc";
import { ConfinedRoot } from "./confined-root";
import { LayerError } from "./errors";
import { TarReader, type TarEntry, type TarHeader } from "./tar-reader";

export interface ExtractOptions {
  whiteout: WhiteoutMode;
}

const WHITEOUT_PREFIX = ".wh.";
const WHITEOUT_META_PREFIX = ".wh..wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
const EPERM = 1;
const EOPNOTSUPP = 95;
/**
 * Longest stretch (ms) an extraction keeps the event loop. Entries already buffered are applied without a real
 * await, so a layer of many small entries would otherwise stall the layers extracting beside it (their decoders
 * wait for the loop to take their output) and every API request meanwhile.
 */
const MAX_BUSY_MS = 5;

/** Apply the tar in `source` to the existing directory `root`. */
export async function extractTar(source: AsyncIterable<Uint8Array>, root: string, options: ExtractOptions): Promise<void> {
  const writer = new LayerWriter(root, options.whiteout);
  const reader = new TarReader(source);
  let busySince = performance.now();
  try {
    for (;;) {
      const next = reader.next();
      const entry = next instanceof Promise ? await next : next;
      if (entry === null) break;
      const writing = writer.apply(entry);
      if (writing) await writing;
      if (performance.now() - busySince > MAX_BUSY_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        busySince = performance.now();
      }
    }
    writer.finish();
  } finally {
    try {
      writer.close();
    } finally {
      await reader.close();
    }
  }
}

interface DeferredTimes {
  path: string[];
  atimeNs: bigint;
  mtimeNs: bigint;
}

class LayerWriter {
  private readonly root: ConfinedRoot;
  /** Paths this layer wrote, for opaque directories in "delete" mode. */
  private readonly unpacked = new Set<string>();
  /** Directory times are set last: creating children would change them. */
  private readonly dirTimes: DeferredTimes[] = [];
  /**
   * The directory the last entry went into, kept open because tars list a directory's entries together. It
   * stays valid: entries only change children of the directory they are in, so changing one of its ancestors
   * means opening that ancestor's parent first, which replaces this one.
   */
  private current: { path: readonly string[]; fd: number } | null = null;

  constructor(
    rootPath: string,
    private readonly mode: WhiteoutMode,
  ) {
    this.root = new ConfinedRoot(rootPath);
  }

  close(): void {
    if (this.current) close(this.current.fd);
    this.root.close();
  }

  /**
   * Applies one entry. Returns a promise only while a file's content is still arriving: everything else (and a
   * file whose content is already buffered) is done synchronously: the awaits of four nested async calls were a
   * noticeable share of a small file's time.
   */
  apply(entry: TarEntry): Promise<void> | void {
    try {
      return this.applyEntry(entry)?.catch((err: unknown) => {
        throw failed(entry.header, err);
      });
    } catch (err) {
      throw failed(entry.header, err);
    }
  }

  private applyEntry(entry: TarEntry): Promise<void> | void {
    const { header } = entry;
    const path = cleanPath(header.name, header.name);
    const base = path.at(-1);
    const parent = path.slice(0, -1);
    if (base === undefined) return this.applyRoot(header);
    if (base === OPAQUE_MARKER) return this.opaque(parent, header);
    // AUFS bookkeeping such as .wh..wh.plnk has no meaning outside AUFS.
    if (path.some((c) => c.startsWith(WHITEOUT_META_PREFIX))) return;
    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(parent, base.slice(WHITEOUT_PREFIX.length), header);
    // Marked before the content is written: if writing fails, the whole apply fails.
    if (this.mode === "delete") this.markUnpacked(path);
    return this.create(parent, base, entry);
  }

  finish(): void {
    for (const { path, atimeNs, mtimeNs } of this.dirTimes) {
      const dirFd = this.dir(path.slice(0, -1), false);
      if (dirFd === null) continue;
      const target = path.length === 0 ? ConfinedRoot.self(dirFd) : ConfinedRoot.at(dirFd, path.at(-1)!);
      if (lstatOrNull(target)?.isDirectory()) lutimesNs(target, atimeNs, mtimeNs);
    }
  }

  /** The open directory at `path` inside the root (owned by the writer), or null when missing and not `create`. */
  private dir(path: readonly string[], create: boolean): number | null {
    if (this.current && samePath(this.current.path, path)) return this.current.fd;
    const fd = this.root.openDir(path, create);
    if (fd === null) return null;
    if (this.current) close(this.current.fd);
    this.current = { path, fd };
    return fd;
  }

  private applyRoot(header: TarHeader): void {
    if (header.type !== "directory") throw refused(header, "names the layer root but is not a directory");
    this.setOwnerModeXattrs(ConfinedRoot.self(this.dir([], false)!), header);
    this.dirTimes.push({ path: [], atimeNs: header.atimeNs, mtimeNs: header.mtimeNs });
  }

  private create(parent: string[], base: string, entry: TarEntry): Promise<void> | void {
    const { header } = entry;
    const dirFd = this.dir(parent, true)!;
    const target = ConfinedRoot.at(dirFd, base);
    switch (header.type) {
      case "hardlink":
        return this.hardlink(target, header);
      case "directory":
        replacing(target, () => mkdirSync(target, 0o700), { keepDirectory: true });
        this.setOwnerModeXattrs(target, header);
        this.dirTimes.push({ path: [...parent, base], atimeNs: header.atimeNs, mtimeNs: header.mtimeNs });
        return;
      case "file":
        return this.writeFile(dirFd, base, target, entry);
      case "symlink":
        replacing(target, () => symlinkSync(header.linkname, target));
        lchown(target, header.uid, header.gid);
        this.setXattrs(target, header);
        break;
      case "char":
      case "block":
      case "fifo": {
        const type = header.type;
        replacing(target, () => mknod(target, NODE_TYPE[type] | 0o600, type === "fifo" ? 0n : makedev(header.devmajor, header.devminor)));
        this.setOwnerModeXattrs(target, header);
        break;
      }
    }
    lutimesNs(target, header.atimeNs, header.mtimeNs);
  }

  /** Opened relative to the directory's fd: the kernel then looks up one plain name rather than a /proc path. */
  private writeFile(dirFd: number, base: string, target: string, entry: TarEntry): Promise<void> | void {
    const fd = replacing(target, () => openat(dirFd, base, NEW_FILE_FLAGS, 0o600))!;
    return fillNewFile(fd, entry, [entry.header.uid, entry.header.gid], () => this.setXattrs(target, entry.header));
  }

  /** Metadata stays the target's: the inode is shared and was set up by the entry that created it. */
  private hardlink(target: string, header: TarHeader): void {
    const linked = cleanPath(header.linkname, header.name);
    const linkedBase = linked.at(-1);
    if (linkedBase === undefined) throw refused(header, "is a hardlink to the layer root");
    const missing = () => refused(header, `is a hardlink to ${JSON.stringify(header.linkname)}, which does not exist in the layer`);
    // Opened on the side: `target` names a child of the current directory, which must stay open.
    const linkedDirFd = this.root.openDir(linked.slice(0, -1), false);
    if (linkedDirFd === null) throw missing();
    try {
      const source = ConfinedRoot.at(linkedDirFd, linkedBase);
      const stat = lstatOrNull(source);
      if (!stat) throw missing();
      if (stat.isDirectory()) throw refused(header, "is a hardlink to a directory");
      if (stat.isSymbolicLink() && symlinkLeavesRoot(readlinkSync(source), linked.length - 1)) {
        throw refused(header, `is a hardlink to symlink ${JSON.stringify(header.linkname)}, which points outside the layer`);
      }
      replacing(target, () => linkSync(source, target));
    } finally {
      close(linkedDirFd);
    }
  }

  private whiteout(parent: string[], name: string, header: TarHeader): void {
    if (name === "" || name === "." || name === "..") throw refused(header, "is a whiteout for an invalid name");
    if (this.mode === "delete") {
      const dirFd = this.dir(parent, false);
      if (dirFd !== null) rmSync(ConfinedRoot.at(dirFd, name), { recursive: true, force: true });
      return;
    }
    const target = ConfinedRoot.at(this.dir(parent, true)!, name);
    replacing(target, () => mknod(target, constants.S_IFCHR, makedev(0, 0)));
    lchown(target, header.uid, header.gid);
  }

  private opaque(dir: string[], header: TarHeader): void {
    if (this.mode === "delete") {
      const dirFd = this.dir(dir, false);
      if (dirFd === null) return;
      for (const name of readdirSync(ConfinedRoot.self(dirFd))) {
        if (!this.unpacked.has([...dir, name].join("/"))) rmSync(ConfinedRoot.at(dirFd, name), { recursive: true, force: true });
      }
      return;
    }
    const target = ConfinedRoot.self(this.dir(dir, true)!);
    if (!lstatOrNull(target)?.isDirectory()) throw refused(header, "marks a non-directory opaque");
    lsetxattr(target, "trusted.overlay.opaque", new TextEncoder().encode("y"));
  }

  private setOwnerModeXattrs(target: string, header: TarHeader): void {
    lchown(target, header.uid, header.gid);
    // After chown, which clears setuid/setgid.
    chmodNoFollow(target, header.mode);
    this.setXattrs(target, header);
  }

  /** After chown, which clears security.capability. */
  private setXattrs(target: string, header: TarHeader): void {
    for (const [name, value] of header.xattrs) {
      if (name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.")) continue;
      try {
        lsetxattr(target, name, value);
      } catch (err) {
        // Filesystems without a namespace, and user.* on symlinks, refuse; Docker skips these too.
        if (err instanceof SysError && (err.errno === EOPNOTSUPP || (err.errno === EPERM && header.type === "symlink"))) continue;
        throw err;
      }
    }
  }

  private markUnpacked(path: string[]): void {
    let prefix = "";
    for (const component of path) {
      prefix = prefix ? `${prefix}/${component}` : component;
      this.unpacked.add(prefix);
    }
  }
}

/** How an entry's file is created: never through a symlink, never over an existing name. */
export const NEW_FILE_FLAGS = O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.CLOEXEC;

/**
 * Write an entry's content into a file just created at `fd`, then set its owner, mode (after chown, which
 * clears setuid/setgid), xattrs and times; the fd is closed in every case. Returns a promise only when the
 * content is not buffered yet and has to be streamed.
 */
export function fillNewFile(fd: number, entry: TarEntry, owner: readonly [number, number], setXattrs: () => void): Promise<void> | void {
  const whole = entry.body.takeBuffered();
  if (whole === null) return streamNewFile(fd, entry, owner, setXattrs);
  try {
    writeAll(fd, whole);
    setNewFileMetadata(fd, entry.header, owner, setXattrs);
  } finally {
    close(fd);
  }
}

async function streamNewFile(fd: number, entry: TarEntry, owner: readonly [number, number], setXattrs: () => void): Promise<void> {
  try {
    for await (const piece of entry.body) writeAll(fd, piece);
    setNewFileMetadata(fd, entry.header, owner, setXattrs);
  } finally {
    close(fd);
  }
}

function setNewFileMetadata(fd: number, header: TarHeader, owner: readonly [number, number], setXattrs: () => void): void {
  fchown(fd, owner[0], owner[1]);
  fchmod(fd, header.mode);
  setXattrs();
  futimensNs(fd, header.atimeNs, header.mtimeNs);
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) done += writeFd(fd, done === 0 ? data : data.subarray(done));
}

export const NODE_TYPE = { char: constants.S_IFCHR, block: constants.S_IFBLK, fifo: constants.S_IFIFO } as const;

/**
 * Create a node with `make`; if something is already there, remove it (without following it) and create again,
 * except that an existing directory is kept for a directory entry. Creating first saves an lstat per entry.
 */
function replacing<T>(target: string, make: () => T, options: { keepDirectory?: boolean } = {}): T | undefined {
  try {
    return make();
  } catch (err) {
    if ((err as { code?: unknown }).code !== "EEXIST") throw err;
    if (options.keepDirectory && lstatOrNull(target)?.isDirectory()) return undefined;
    rmSync(target, { recursive: true, force: true });
    return make();
  }
}

/**
 * chmod(2) follows symlinks and there is no lchmod; pinning the node with O_PATH|O_NOFOLLOW and changing it
 * through its fd keeps the "never follow the final component" promise even if the node were swapped meanwhile
 * (a symlink pinned this way refuses the chmod). Device nodes are never opened for I/O this way.
 */
export function chmodNoFollow(target: string, mode: number): void {
  const fd = open(target, O.PATH | O.NOFOLLOW | O.CLOEXEC);
  try {
    chmodSync(`/proc/self/fd/${fd}`, mode);
  } finally {
    close(fd);
  }
}

/** Lexically cleaned components of a tar path; a leading "/" is dropped, climbing above the root is refused. */
export function cleanPath(path: string, entryName: string): string[] {
  if (path.includes("\0")) throw new LayerError(`invalid tar entry ${JSON.stringify(entryName)}: path contains a NUL byte`);
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (c === "" || c === ".") continue;
    if (c !== "..") out.push(c);
    else if (out.pop() === undefined) {
      throw new LayerError(`invalid tar entry ${JSON.stringify(entryName)}: path ${JSON.stringify(path)} escapes the layer root`);
    }
  }
  return out;
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether a symlink's target, read from a link `depth` directories below the root, is absolute or climbs out. */
function symlinkLeavesRoot(linkTarget: string, depth: number): boolean {
  if (linkTarget.startsWith("/")) return true;
  for (const c of linkTarget.split("/")) {
    if (c === "..") depth--;
    else if (c !== "" && c !== ".") depth++;
    if (depth < 0) return true;
  }
  return false;
}

function lstatOrNull(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

/** `err` as the LayerError that fails the apply, naming the entry. */
function failed(header: TarHeader, err: unknown): LayerError {
  if (err instanceof LayerError) return err;
  return new LayerError(`failed to extract ${JSON.stringify(header.name)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

function refused(header: TarHeader, why: string): LayerError {
  return new LayerError(`invalid tar entry ${JSON.stringify(header.name)}: ${why}`);
}
