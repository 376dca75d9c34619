/**
 * `docker cp` on a container's root filesystem: the stat behind `HEAD /containers/{id}/archive`, the tar behind
 * `GET`, and the extraction behind `PUT`. The container may be running and rewriting its tree throughout: paths are
 * resolved inside the root by the kernel (container-path.ts) and every read or write happens relative to a
 * directory fd already held, never following the final component (fs-at.ts), so nothing outside the root is read
 * or written whatever the container swaps in meanwhile.
 */
import { linkSync, mkdirSync, openSync, symlinkSync } from "node:fs";
import { close, lchown, lsetxattr, lutimesNs, makedev, mknod, SysError } from "../../drivers/libc/libc";
import { InvalidParameterError } from "../errors";
import { toReadableStream } from "../images/streams";
import { LayerError } from "../layers/errors";
import { chmodNoFollow, cleanPath, fillNewFile, NEW_FILE_FLAGS, NODE_TYPE } from "../layers/extract";
import { readTar, type TarEntry, type TarHeader } from "../layers/tar-reader";
import { absolutePath, ContainerRoot, containerPath, followsFinal, goBase, type ContainerFs, type Located, type PathStat } from "./container-path";
import { at, isDirectory, lstatAt, openDirAt, removeAt } from "./fs-at";
import { TarEntryWriter } from "./tar-entries";
import { walkTree } from "./walk";

export { encodePathStat, type ContainerFs, type PathStat } from "./container-path";

const EPERM = 1;
const EOPNOTSUPP = 95;

/** `HEAD /containers/{id}/archive?path=`: what `path` is, without following a final symlink. */
export function statPath(fs: ContainerFs, path: string): PathStat {
  const root = new ContainerRoot(fs);
  try {
    const located = root.locate(path, followsFinal(path));
    try {
      return root.describe(path, located);
    } finally {
      located.close();
    }
  } finally {
    root.close();
  }
}

export interface ArchivedPath {
  stat: PathStat;
  /** An uncompressed tar whose top entry is named after the requested path (`path/.` gives `.` and the contents). */
  tar: ReadableStream<Uint8Array>;
}

/**
 * `GET /containers/{id}/archive?path=`: the stat and a tar of `path`. Throws NotFoundError before any byte is sent.
 * The tar holds fds of the container's tree until it is read to the end or cancelled.
 */
export function archivePath(fs: ContainerFs, path: string): ArchivedPath {
  const root = new ContainerRoot(fs);
  let located: Located | undefined;
  try {
    located = root.locate(path, followsFinal(path));
    const stat = root.describe(path, located);
    return { stat, tar: toReadableStream(archiveEntries(root, located, goBase(absolutePath(root.shown(path))))) };
  } catch (err) {
    located?.close();
    root.close();
    throw err;
  }
}

/** moby's rebase: the node is archived under `rebaseName`, and the root under "/" gives "/", "/bin", ... */
async function* archiveEntries(root: ContainerRoot, located: Located, rebaseName: string): AsyncGenerator<Uint8Array> {
  const writer = new TarEntryWriter();
  const top = rebaseName === "/" ? "" : rebaseName;
  try {
    yield* writer.node(top, located);
    if (isDirectory(located.stat)) {
      const dirFd = openDirAt(located.dirFd, located.name);
      if (dirFd !== null) {
        try {
          for await (const node of walkTree(dirFd)) yield* writer.node(`${top}/${node.path.join("/")}`, node);
        } finally {
          close(dirFd);
        }
      }
    }
    yield writer.end();
  } finally {
    located.close();
    root.close();
  }
}

export interface ExtractArchiveOptions {
  /** Refuse to replace a directory with a non-directory or the reverse (`docker cp` always asks for this). */
  noOverwriteDirNonDir: boolean;
  /** Keep the archive's owners (`docker cp -a`); otherwise everything is owned by root. */
  copyUIDGID: boolean;
}

/**
 * `PUT /containers/{id}/archive?path=`: extract the tar into the directory `path` (symlinks, the final one too,
 * followed inside the root). Entries are taken as they are: `.wh.` names are ordinary files here. The extraction
 * point itself is left as it is; the archive's entry for it (`.` or `./`), if any, is returned.
 */
export async function extractArchive(fs: ContainerFs, path: string, tar: AsyncIterable<Uint8Array>, options: ExtractArchiveOptions): Promise<TarHeader | null> {
  const root = new ContainerRoot(fs);
  try {
    const located = root.locate(path, true);
    const base = located.name === "." ? located.dirPath : [...located.dirPath, located.name];
    const isDir = isDirectory(located.stat);
    located.close();
    if (!isDir) throw new InvalidParameterError("extraction point is not a directory");
    const extractor = new ArchiveExtractor(root, base, options);
    try {
      for await (const entry of readTar(tar)) await extractor.apply(entry);
      extractor.finish();
      return extractor.rootEntry;
    } finally {
      extractor.close();
    }
  } catch (err) {
    if (err instanceof LayerError) throw new InvalidParameterError(err.message, { cause: err });
    throw err;
  } finally {
    root.close();
  }
}

class ArchiveExtractor {
  /** Directory times are set last: creating entries inside would change them. */
  private readonly dirTimes: { path: string[]; atimeNs: bigint; mtimeNs: bigint }[] = [];
  /** The archive's entry for the extraction point itself. */
  rootEntry: TarHeader | null = null;
  /** The directory the last entry went into: archives list a directory's entries together. */
  private current: { key: string; fd: number } | null = null;

  constructor(
    private readonly root: ContainerRoot,
    private readonly base: string[],
    private readonly options: ExtractArchiveOptions,
  ) {}

  close(): void {
    if (this.current) close(this.current.fd);
  }

  async apply(entry: TarEntry): Promise<void> {
    const { header } = entry;
    const rel = cleanPath(header.name, header.name);
    // The extraction point itself is never replaced or changed.
    if (rel.length === 0) {
      this.rootEntry = header;
      return;
    }
    const parent = [...this.base, ...rel.slice(0, -1)];
    const name = rel.at(-1)!;
    const dirFd = this.dir(parent);
    const target = at(dirFd, name);
    this.clearWay(dirFd, name, header, [...parent, name]);
    switch (header.type) {
      case "directory":
        if (!lstatAt(dirFd, name)) mkdirSync(target, 0o700);
        this.setOwnerMode(target, header);
        this.setXattrs(target, header);
        this.dirTimes.push({ path: [...parent, name], atimeNs: header.atimeNs, mtimeNs: header.mtimeNs });
        return;
      case "file":
        return this.writeFile(target, entry);
      case "hardlink":
        this.hardlink(target, header);
        return;
      case "symlink":
        symlinkSync(header.linkname, target);
        lchown(target, ...this.owner(header));
        this.setXattrs(target, header);
        break;
      case "char":
      case "block":
      case "fifo":
        mknod(target, NODE_TYPE[header.type] | 0o600, header.type === "fifo" ? 0n : makedev(header.devmajor, header.devminor));
        this.setOwnerMode(target, header);
        this.setXattrs(target, header);
        break;
    }
    lutimesNs(target, header.atimeNs, header.mtimeNs);
  }

  finish(): void {
    for (const { path, atimeNs, mtimeNs } of this.dirTimes) {
      const dirFd = this.dir(path.slice(0, -1));
      const stat = lstatAt(dirFd, path.at(-1)!);
      if (stat && isDirectory(stat)) lutimesNs(at(dirFd, path.at(-1)!), atimeNs, mtimeNs);
    }
  }

  private dir(path: string[]): number {
    const key = path.join("/");
    if (this.current?.key === key) return this.current.fd;
    const fd = this.root.openDir(path, true)!;
    if (this.current) close(this.current.fd);
    this.current = { key, fd };
    return fd;
  }

  /** Whatever is at the entry's name goes, unless a directory meets a directory (their contents merge). */
  private clearWay(dirFd: number, name: string, header: TarHeader, path: string[]): void {
    const existing = lstatAt(dirFd, name);
    if (!existing) return;
    const existingDir = isDirectory(existing);
    const entryDir = header.type === "directory";
    if (this.options.noOverwriteDirNonDir && existingDir !== entryDir) {
      const destination = containerPath(this.base);
      throw new InvalidParameterError(
        existingDir
          ? `cannot overwrite directory ${JSON.stringify(containerPath(path))} with non-directory ${JSON.stringify(destination)}`
          : `cannot overwrite non-directory ${JSON.stringify(containerPath(path))} with directory ${JSON.stringify(destination)}`,
      );
    }
    if (!(existingDir && entryDir)) removeAt(dirFd, name);
  }

  private async writeFile(target: string, entry: TarEntry): Promise<void> {
    const fd = openSync(target, NEW_FILE_FLAGS, 0o600);
    await fillNewFile(fd, entry, this.owner(entry.header), () => this.setXattrs(target, entry.header));
  }

  /** A link to an entry of the same archive: its name is relative to the extraction point, like the entries'. */
  private hardlink(target: string, header: TarHeader): void {
    const linked = cleanPath(header.linkname, header.name);
    if (linked.length === 0) throw new InvalidParameterError(`invalid hardlink ${JSON.stringify(header.name)}: it names the extraction point`);
    const linkedDirFd = this.root.openDir([...this.base, ...linked.slice(0, -1)]);
    if (linkedDirFd === null) throw new InvalidParameterError(`invalid hardlink ${JSON.stringify(header.name)}: ${JSON.stringify(header.linkname)} does not exist`);
    try {
      const stat = lstatAt(linkedDirFd, linked.at(-1)!);
      if (!stat) throw new InvalidParameterError(`invalid hardlink ${JSON.stringify(header.name)}: ${JSON.stringify(header.linkname)} does not exist`);
      if (isDirectory(stat)) throw new InvalidParameterError(`invalid hardlink ${JSON.stringify(header.name)}: ${JSON.stringify(header.linkname)} is a directory`);
      linkSync(at(linkedDirFd, linked.at(-1)!), target);
    } finally {
      close(linkedDirFd);
    }
  }

  private owner(header: TarHeader): [number, number] {
    return this.options.copyUIDGID ? [header.uid, header.gid] : [0, 0];
  }

  private setOwnerMode(target: string, header: TarHeader): void {
    lchown(target, ...this.owner(header));
    // After chown, which clears setuid/setgid.
    chmodNoFollow(target, header.mode);
  }

  private setXattrs(target: string, header: TarHeader): void {
    for (const [name, value] of header.xattrs) {
      try {
        lsetxattr(target, name, value);
      } catch (err) {
        // Filesystems without the namespace, and user.* on symlinks, refuse; docker ignores both too.
        if (err instanceof SysError && (err.errno === EOPNOTSUPP || err.errno === EPERM)) continue;
        throw err;
      }
    }
  }
}
