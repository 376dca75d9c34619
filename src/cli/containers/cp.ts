/**
 * `bunker cp`: copies between a container and the local filesystem the way the docker CLI does (cli/command/
 * container/cp.go and moby's archive.PrepareArchiveCopy): the daemon sends or takes a tar whose top entry is named
 * after the source, and this side renames that entry to fit the destination (a new name, a file replaced, or into an
 * existing directory). Local trees are read and written with the same confined, fd-based code the daemon uses.
 */
import { lstatSync, realpathSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { archivePath, extractArchive, type PathStat } from "../../archive/copy";
import { DaemonError, type Client } from "../../client/client";
import { toReadableStream } from "../../images/streams";
import { readTar } from "../../layers/tar-reader";
import { encodeTarHeader, TAR_END, tarPadding } from "../../layers/tar-writer";
import { bool, type FlagSpec, type FlagValues } from "./argv";
import { UsageError } from "./create-flags";

export const CP_FLAGS: readonly FlagSpec[] = [
  { name: "archive", short: "a", kind: "bool" },
  { name: "follow-link", short: "L", kind: "bool" },
  { name: "quiet", short: "q", kind: "bool" },
];

const MODE_DIR = 2 ** 31;
const MODE_SYMLINK = 1 << 27;
const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";

interface Endpoint {
  container: string | null;
  path: string;
}

/** docker's splitCpArg: `ctr:/path`, or a local path (absolute, or without a colon). */
function endpoint(arg: string): Endpoint {
  if (arg.startsWith("/") || arg.startsWith(".")) return { container: null, path: arg };
  const colon = arg.indexOf(":");
  if (colon <= 0) return { container: null, path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

/** What is known about either end of a copy. */
interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
}

export async function cpCommand(client: Client, flags: FlagValues, args: string[]): Promise<number> {
  if (args.length !== 2) throw new UsageError(`"cp" requires exactly 2 arguments`);
  const [from, to] = [endpoint(args[0]!), endpoint(args[1]!)];
  if (from.container !== null && to.container !== null) throw new UsageError("copying between containers is not supported");
  if (from.container === null && to.container === null) throw new UsageError("must specify at least one container source");
  if ((from.container !== null && from.path === "") || (to.container !== null && to.path === "")) throw new UsageError("filepath cannot be empty");
  try {
    if (from.container !== null) await copyFromContainer(client, from.container, from.path, to.path, flags);
    else await copyToContainer(client, from.path, to.container!, to.path, flags);
    return 0;
  } catch (err) {
    if (!(err instanceof DaemonError || err instanceof CopyError)) throw err;
    process.stderr.write(`${err instanceof DaemonError ? "Error response from daemon: " : ""}${err.message}\n`);
    return 1;
  }
}

class CopyError extends Error {}

async function statInContainer(client: Client, container: string, path: string): Promise<PathStat | null> {
  try {
    const res = await client.request("HEAD", `/containers/${container}/archive`, { query: { path } });
    return decodeStat(res.headers.get(PATH_STAT_HEADER));
  } catch (err) {
    if (err instanceof DaemonError && err.status === 404) return null;
    throw err;
  }
}

function decodeStat(header: string | null): PathStat {
  if (!header) throw new CopyError("the daemon sent no path stat");
  return JSON.parse(Buffer.from(header, "base64").toString("utf8")) as PathStat;
}

async function copyFromContainer(client: Client, container: string, path: string, destination: string, flags: FlagValues): Promise<void> {
  let source = path;
  if (bool(flags["follow-link"])) {
    const stat = await statInContainer(client, container, path);
    if (stat && stat.mode & MODE_SYMLINK && stat.linkTarget) source = stat.linkTarget;
  }
  const res = await client.request("GET", `/containers/${container}/archive`, { query: { path: source } });
  const stat = decodeStat(res.headers.get(PATH_STAT_HEADER));
  const body = res.body ?? toReadableStream((async function* () {})());
  if (destination === "-") {
    for await (const chunk of body) process.stdout.write(chunk);
    return;
  }
  const [, sourceBase] = splitDirEntry(source);
  const src: CopyInfo = { path: source, exists: true, isDir: (stat.mode & MODE_DIR) !== 0 };
  const { dir, rename } = prepareCopy(src, localInfo(destination));
  const tar = rename === null ? body : rebase(body, sourceBase, rename);
  await extractArchive({ root: dir, container: "local" }, "/", tar, { noOverwriteDirNonDir: true, copyUIDGID: bool(flags.archive) });
}

async function copyToContainer(client: Client, source: string, container: string, path: string, flags: FlagValues): Promise<void> {
  let dst: CopyInfo = { path, exists: false, isDir: false };
  let stat = await statInContainer(client, container, path);
  if (stat && stat.mode & MODE_SYMLINK) {
    const target = posix.isAbsolute(stat.linkTarget) ? stat.linkTarget : posix.join(splitDirEntry(path)[0], stat.linkTarget);
    dst = { path: target, exists: false, isDir: false };
    stat = await statInContainer(client, container, target);
  }
  if (stat) dst = { ...dst, exists: true, isDir: (stat.mode & MODE_DIR) !== 0 };
  let body: ReadableStream<Uint8Array>;
  let into: string;
  if (source === "-") {
    if (!dst.isDir) throw new CopyError(`destination "${container}:${path}" must be a directory`);
    body = Bun.stdin.stream();
    into = dst.path;
  } else {
    const local = bool(flags["follow-link"]) ? realpathOr(source) : source;
    const info = localInfo(local);
    if (!info.exists) throw new CopyError(`lstat ${source}: no such file or directory`);
    const [sourceDir, sourceBase] = splitDirEntry(local);
    const archived = archivePath({ root: sourceDir, container: "local" }, `/${sourceBase}`);
    const { dir, rename } = prepareCopy(info, dst);
    body = rename === null ? archived.tar : rebase(archived.tar, sourceBase, rename);
    into = dir;
  }
  await client.request("PUT", `/containers/${container}/archive`, {
    query: { path: into, noOverwriteDirNonDir: true, copyUIDGID: bool(flags.archive) || undefined },
    rawBody: body,
    headers: { "Content-Type": "application/x-tar" },
  });
}

function localInfo(path: string): CopyInfo {
  let stat: Stats | undefined;
  try {
    stat = lstatSync(path);
    if (stat.isSymbolicLink()) stat = lstatSync(realpathSync(path));
  } catch {
    stat = undefined;
  }
  return { path, exists: stat !== undefined, isDir: stat?.isDirectory() ?? false };
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * moby's PrepareArchiveCopy: the directory to extract in, and the name the archive's top entry takes there (null
 * to keep it: the destination is an existing directory).
 */
function prepareCopy(src: CopyInfo, dst: CopyInfo): { dir: string; rename: string | null } {
  const [dstDir, dstBase] = splitDirEntry(dst.path);
  if (dst.exists && dst.isDir) return { dir: dst.path, rename: null };
  if (dst.exists && src.isDir) throw new CopyError("cannot copy a directory to a file");
  if (dst.exists || src.isDir) return { dir: dstDir, rename: dstBase };
  if (dst.path.endsWith("/")) throw new CopyError(`destination directory ${dst.path} does not exist`);
  return { dir: dstDir, rename: dstBase };
}

/** moby's SplitPathDirEntry: the parent and the last element, "." kept for a path ending in "/.". */
function splitDirEntry(path: string): [string, string] {
  let cleaned = posix.normalize(path).replace(/(.)\/+$/, "$1");
  if (path === "." || path.endsWith("/.")) cleaned = cleaned === "." ? "." : `${cleaned}/.`;
  const slash = cleaned.lastIndexOf("/");
  if (slash < 0) return [".", cleaned];
  return [slash === 0 ? "/" : cleaned.slice(0, slash), cleaned.slice(slash + 1)];
}

/** The archive with its entries under `oldBase` renamed to be under `newBase` (moby's RebaseArchiveEntries). */
function rebase(tar: AsyncIterable<Uint8Array>, oldBase: string, newBase: string): ReadableStream<Uint8Array> {
  const renamed = (name: string) => {
    const trimmed = name.replace(/^\.\//, oldBase === "." ? "./" : "");
    if (trimmed === oldBase || trimmed === `${oldBase}/`) return newBase + (trimmed.endsWith("/") ? "/" : "");
    if (trimmed.startsWith(`${oldBase}/`)) return `${newBase}${trimmed.slice(oldBase.length)}`;
    return name;
  };
  return toReadableStream(
    (async function* () {
      for await (const entry of readTar(tar)) {
        const header = { ...entry.header, name: renamed(entry.header.name) };
        if (header.type === "hardlink") header.linkname = renamed(header.linkname);
        yield encodeTarHeader(header);
        let size = 0;
        for await (const piece of entry.body) {
          size += piece.length;
          yield piece;
        }
        yield tarPadding(size);
      }
      yield TAR_END;
    })(),
  );
}
