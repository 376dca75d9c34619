/**
 * COPY and ADD as a layer: the tar of what the instruction adds, generated from the source tree (the build
 * context, or a stage's or image's root filesystem), with docker's destination rules, and a content hash of
 * everything that goes into it for the build cache.
 *
 * Destination rules (moby's classic builder): a relative destination is under WORKDIR; a file goes *into* the
 * destination when it ends with `/` or is an existing directory, otherwise it *becomes* the destination; a
 * directory's contents (not the directory) are copied; several sources need a destination ending with `/`;
 * symlinks on the destination path are followed inside the image. New files are owned by root (or --chown) and
 * keep their mode (or take --chmod) and mtime; directories created on the way are 0755. Directories that
 * already exist in the image keep their owner and mode (the layer repeats them as they are). ADD unpacks a local
 * tar archive (plain, gzip, bzip2, xz, zstd) into the destination, keeping the archive's owners.
 */
import { posix } from "node:path";
import { InvalidParameterError } from "../errors";
import { readTar } from "../layers/tar-reader";
import type { Owner } from "./chown";
import type { ConfinedTree, TreeStat } from "./confined-tree";
import { decompress, detectCompression, looksLikeTar, peek, SNIFF_BYTES } from "./decompress";
import type { PackEntry } from "./tar-pack";

export interface CopySource {
  tree: ConfinedTree;
  /** How messages name the source: `build context`, `stage "builder"`, `image "alpine"`. */
  label: string;
}

export interface CopyRequest {
  instruction: "COPY" | "ADD";
  /** Expanded source paths as written. */
  sources: string[];
  /** Expanded destination as written. */
  dest: string;
  workdir: string;
  from: CopySource;
  /** The root filesystem of the image the layer goes on (null for an image without layers). */
  rootfs: ConfinedTree | null;
  owner: Owner | null;
  chmod: number | null;
  /** Seconds since the epoch, for directories the copy creates. */
  now: number;
}

export interface CopyPlan {
  /** sha256 over every entry's path, type, mode, owner, link target and content. */
  hash: string;
  /** docker's history text: `COPY file:<hash> in /app/ `. */
  createdBy: string;
  /** The layer's entries; file contents are read when the consumer gets to them. */
  entries(): AsyncGenerator<PackEntry>;
}

interface Item {
  /** Cleaned path inside the source tree ("" is its root). */
  path: string;
  /** What the path leads to (symlinks followed inside the tree). */
  stat: TreeStat;
}

type Piece = { entry: PackEntry } | { archive: { targetDir: string; open: () => AsyncIterable<Uint8Array> } };

const WHITEOUT_PREFIX = ".wh.";
const URL_LIKE = /^([a-z][a-z0-9+.-]*:\/\/|git@)/i;

export async function planCopy(req: CopyRequest): Promise<CopyPlan> {
  const items = collectSources(req);
  if (items.length > 1 && !req.dest.endsWith("/")) {
    throw new InvalidParameterError(`When using ${req.instruction} with more than one source file, the destination must be a directory and end with a /`);
  }
  const dest = normalizeDest(req.workdir, req.dest);
  const intoDirectory = req.dest.endsWith("/") || posix.basename(req.dest) === ".";
  const pieces: Piece[] = [];
  const emittedDirs = new Set<string>();
  const hasher = new Bun.CryptoHasher("sha256");
  const kinds = new Set<string>();

  for (const item of items) {
    if (item.stat.type === "directory") {
      kinds.add("dir");
      const target = resolveTarget(req.rootfs, dest);
      addAncestors(req, target.path, emittedDirs, pieces);
      addTargetDirectory(req, target, item.stat, emittedDirs, pieces);
      walkDirectory(req, item.path, target.path, pieces);
      continue;
    }
    if (req.instruction === "ADD" && item.stat.type === "file" && (await isArchive(req.from.tree, item))) {
      kinds.add("archive");
      const target = resolveTarget(req.rootfs, dest);
      addAncestors(req, target.path, emittedDirs, pieces);
      addTargetDirectory(req, target, null, emittedDirs, pieces);
      pieces.push({ archive: { targetDir: target.path, open: req.from.tree.content(item.path, item.stat.size, true) } });
      continue;
    }
    kinds.add("file");
    let target = resolveTarget(req.rootfs, dest);
    if (intoDirectory || target.existing?.type === "directory") target = entryIn(req.rootfs, target.path, posix.basename(item.path));
    if (target.path === "" || target.existing?.type === "directory") throw new InvalidParameterError(`${req.instruction} cannot replace the directory ${dest} with a file`);
    addAncestors(req, target.path, emittedDirs, pieces);
    pieces.push({ entry: fileEntry(req, item.path, item.stat, target.path, true) });
  }

  for (const piece of pieces) await hashPiece(hasher, piece);
  const hex = hasher.digest("hex");
  const kind = items.length > 1 ? "multi" : kinds.has("dir") ? "dir" : "file";
  return {
    hash: `sha256:${hex}`,
    createdBy: `${req.instruction} ${kind}:${hex} in ${req.dest} `,
    entries: () => entriesOf(pieces),
  };
}

/** `dest` made absolute under WORKDIR (trailing slash dropped: the caller kept what it meant). */
function normalizeDest(workdir: string, dest: string): string {
  const joined = posix.isAbsolute(dest) ? posix.normalize(dest) : posix.join("/", workdir || "/", dest);
  return joined.length > 1 && joined.endsWith("/") ? joined.slice(0, -1) : joined;
}

function hasWildcards(path: string): boolean {
  return /(^|[^\\])[*?[]/.test(path);
}

/** Go's filepath.Match for one path component. */
function componentPattern(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) throw new InvalidParameterError(`syntax error in pattern: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("^")) body = `^${body.slice(1).replace(/[\\\]]/g, "\\$&")}`;
      else body = body.replace(/[\\\]^]/g, "\\$&");
      re += `[${body}]`;
      i = end;
    } else if (ch === "\\" && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    else re += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** A source as written → its cleaned path in the tree ("" is the root); `..` may not climb out of it. */
function cleanSource(req: CopyRequest, source: string): string {
  const normalized = posix.normalize(source);
  if (normalized === ".." || normalized.startsWith("../")) throw new InvalidParameterError(`forbidden path outside the ${req.from.label}: ${source}`);
  const relative = normalized.replace(/^\/+/, "").replace(/\/+$/, "");
  return relative === "." ? "" : relative;
}

function collectSources(req: CopyRequest): Item[] {
  const items: Item[] = [];
  const tree = req.from.tree;
  for (const source of req.sources) {
    if (URL_LIKE.test(source)) {
      if (req.instruction === "COPY") throw new InvalidParameterError(`source can't be a URL for COPY: ${source}`);
      throw new InvalidParameterError(`ADD ${source}: fetching remote URLs is not supported by this builder; download it in a RUN step, or COPY a local copy`);
    }
    const path = cleanSource(req, source);
    const matches = hasWildcards(path) ? glob(tree, path.split("/"), 0, "") : [path];
    if (matches.length === 0) throw new InvalidParameterError(`${req.instruction} failed: no source files were specified (${source} matches nothing in the ${req.from.label})`);
    for (const match of matches) {
      const stat = tree.stat(match);
      if (!stat) {
        const where = req.from.label === "build context" ? "file not found in build context or excluded by .dockerignore" : `file not found in ${req.from.label}`;
        throw new InvalidParameterError(`${req.instruction} failed: ${where}: stat ${source}: file does not exist`);
      }
      items.push({ path: match, stat });
    }
  }
  return items;
}

/** Paths matching `components` (wildcards per component, never through a symlinked directory). */
function glob(tree: ConfinedTree, components: string[], index: number, prefix: string): string[] {
  if (index === components.length) return [prefix];
  const component = components[index]!;
  const join = (name: string) => (prefix === "" ? name : `${prefix}/${name}`);
  if (!hasWildcards(component)) {
    const next = join(component.replace(/\\(.)/g, "$1"));
    return index === components.length - 1 || tree.lstat(next)?.type === "directory" ? glob(tree, components, index + 1, next) : [];
  }
  const pattern = componentPattern(component);
  const out: string[] = [];
  for (const name of tree.readdir(prefix)) {
    if (!pattern.test(name)) continue;
    const path = join(name);
    if (index === components.length - 1) out.push(path);
    else if (tree.lstat(path)?.type === "directory") out.push(...glob(tree, components, index + 1, path));
  }
  return out;
}

interface Target {
  /** Path inside the image, symlinks resolved, no leading `/` ("" is the root). */
  path: string;
  /** What is there already, if anything. */
  existing: TreeStat | null;
}

/** Where `absolute` really is in the image: the longest existing prefix resolved through its symlinks, then the rest. */
function resolveTarget(rootfs: ConfinedTree | null, absolute: string): Target {
  const components = absolute.split("/").filter(Boolean);
  for (let k = components.length; k >= 0; k--) {
    const prefix = components.slice(0, k).join("/");
    const real = rootfs ? rootfs.realPath(prefix) : prefix === "" ? "" : null;
    if (real === null) continue;
    const stat = rootfs?.stat(prefix) ?? null;
    if (k < components.length && stat && stat.type !== "directory") {
      throw new InvalidParameterError(`cannot copy to ${absolute}: /${prefix} is not a directory`);
    }
    const path = [real, ...components.slice(k)].filter(Boolean).join("/");
    return { path, existing: k === components.length ? stat : null };
  }
  return { path: components.join("/"), existing: null };
}

/** The name `name` in the directory at `dir` (already resolved): a symlink there is replaced, not followed. */
function entryIn(rootfs: ConfinedTree | null, dir: string, name: string): Target {
  const path = dir === "" ? name : `${dir}/${name}`;
  return { path, existing: rootfs?.lstat(path) ?? null };
}

/** What creating directories in the image depends on. */
type DirectoryContext = Pick<CopyRequest, "rootfs" | "owner" | "now">;

function newDirectory(ctx: DirectoryContext, path: string): PackEntry {
  return { name: path, type: "directory", mode: 0o755, uid: ctx.owner?.uid ?? 0, gid: ctx.owner?.gid ?? 0, mtime: ctx.now };
}

function existingDirectory(path: string, stat: TreeStat): PackEntry {
  return { name: path, type: "directory", mode: stat.mode, uid: stat.uid, gid: stat.gid, mtime: stat.mtime };
}

/**
 * The directories above `path`: as they are in the image when they exist (a layer entry for a directory replaces
 * its metadata, so it must repeat it), new 0755 ones otherwise.
 */
function addAncestors(ctx: DirectoryContext, path: string, emitted: Set<string>, pieces: Piece[]): void {
  const components = path.split("/").filter(Boolean);
  for (let i = 1; i < components.length; i++) {
    const dir = components.slice(0, i).join("/");
    if (emitted.has(dir)) continue;
    emitted.add(dir);
    const existing = ctx.rootfs?.lstat(dir);
    pieces.push({ entry: existing?.type === "directory" ? existingDirectory(dir, existing) : newDirectory(ctx, dir) });
  }
}

/**
 * The layer entries that create the directory `absolute` (and its missing parents) in the image, root-owned and
 * 0755 like `mkdir -p` in the build container; null when it already is a directory (symlinks followed).
 */
export function directoryEntries(rootfs: ConfinedTree | null, absolute: string, now: number): PackEntry[] | null {
  const ctx: DirectoryContext = { rootfs, owner: null, now };
  const target = resolveTarget(rootfs, absolute);
  if (target.path === "" || target.existing?.type === "directory") return null;
  if (target.existing) throw new InvalidParameterError(`cannot create directory ${absolute}: a file of that name exists`);
  const pieces: Piece[] = [];
  addAncestors(ctx, target.path, new Set(), pieces);
  pieces.push({ entry: newDirectory(ctx, target.path) });
  return pieces.flatMap((p) => ("entry" in p ? [p.entry] : []));
}

/** The directory a directory's contents or an archive go into. */
function addTargetDirectory(req: CopyRequest, target: Target, source: TreeStat | null, emitted: Set<string>, pieces: Piece[]): void {
  if (target.path === "" || emitted.has(target.path)) return;
  emitted.add(target.path);
  if (target.existing?.type === "directory") {
    pieces.push({ entry: existingDirectory(target.path, target.existing) });
    return;
  }
  const entry = newDirectory(req, target.path);
  if (source) {
    entry.mode = req.chmod ?? source.mode;
    entry.mtime = source.mtime;
  }
  pieces.push({ entry });
}

function checkName(req: CopyRequest, path: string): void {
  if (posix.basename(path).startsWith(WHITEOUT_PREFIX)) {
    throw new InvalidParameterError(`${req.instruction} cannot copy ${path}: names starting with ${WHITEOUT_PREFIX} are reserved for layer whiteouts`);
  }
}

function fileEntry(req: CopyRequest, sourcePath: string, stat: TreeStat, target: string, follow: boolean): PackEntry {
  checkName(req, sourcePath);
  const owner = { uid: req.owner?.uid ?? 0, gid: req.owner?.gid ?? 0 };
  const base = { name: target, mode: req.chmod ?? stat.mode, ...owner, mtime: stat.mtime };
  switch (stat.type) {
    case "file":
      return { ...base, type: "file", size: stat.size, body: req.from.tree.content(sourcePath, stat.size, follow) };
    case "symlink":
      return { ...base, type: "symlink", mode: 0o777, linkname: stat.linkname ?? "" };
    case "directory":
      return { ...base, type: "directory" };
    default:
      return { ...base, type: stat.type, devmajor: stat.devmajor, devminor: stat.devminor };
  }
}

/** Everything below the source directory, parents before children. */
function walkDirectory(req: CopyRequest, sourceDir: string, targetDir: string, pieces: Piece[]): void {
  const tree = req.from.tree;
  for (const name of tree.readdir(sourceDir)) {
    const sourcePath = sourceDir === "" ? name : `${sourceDir}/${name}`;
    const target = targetDir === "" ? name : `${targetDir}/${name}`;
    const stat = tree.lstat(sourcePath);
    if (!stat) continue;
    pieces.push({ entry: fileEntry(req, sourcePath, stat, target, false) });
    if (stat.type === "directory") walkDirectory(req, sourcePath, target, pieces);
  }
}

/** Compressed archives are recognised by decompressing this much of them. */
const ARCHIVE_SNIFF_BYTES = 64 * 1024;

/** Whether ADD should unpack the file: it is a tar, maybe compressed (docker's archive.IsArchivePath). */
async function isArchive(tree: ConfinedTree, item: Item): Promise<boolean> {
  const head = tree.readHead(item.path, ARCHIVE_SNIFF_BYTES);
  if (!head) return false;
  const compression = detectCompression(head);
  if (compression === "none") return looksLikeTar(head);
  const plain: Uint8Array[] = [];
  let length = 0;
  try {
    for await (const chunk of decompress([head], compression)) {
      plain.push(chunk);
      length += chunk.length;
      if (length >= 512) break;
    }
  } catch {
    // The input was cut short on purpose: what came out before the error is what counts.
  }
  return looksLikeTar(Buffer.concat(plain));
}

async function hashPiece(hasher: Bun.CryptoHasher, piece: Piece): Promise<void> {
  if ("archive" in piece) {
    hasher.update(`archive\0${piece.archive.targetDir}\0`);
    for await (const chunk of piece.archive.open()) hasher.update(chunk);
    hasher.update("\n");
    return;
  }
  const e = piece.entry;
  hasher.update(`${e.type}\0${e.name}\0${e.mode.toString(8)}\0${e.uid}:${e.gid}\0${e.linkname ?? ""}\0${e.devmajor ?? 0},${e.devminor ?? 0}\0${e.size ?? 0}\0`);
  if (e.type === "file" && e.body) {
    const content = new Bun.CryptoHasher("sha256");
    for await (const chunk of e.body()) content.update(chunk);
    hasher.update(content.digest("hex"));
  }
  hasher.update("\n");
}

async function* entriesOf(pieces: Piece[]): AsyncGenerator<PackEntry> {
  for (const piece of pieces) {
    if ("entry" in piece) yield piece.entry;
    else yield* archiveEntries(piece.archive.targetDir, piece.archive.open());
  }
}

/** A tar archive's entries moved under `targetDir`; entries that would climb out of it are refused. */
async function* archiveEntries(targetDir: string, raw: AsyncIterable<Uint8Array>): AsyncGenerator<PackEntry> {
  const sniffed = await peek(raw, SNIFF_BYTES);
  const under = (name: string): string | null => {
    const parts: string[] = [];
    for (const c of name.split("/")) {
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (parts.pop() === undefined) throw new InvalidParameterError(`ADD refused the archive: entry ${JSON.stringify(name)} climbs out of the destination`);
      } else parts.push(c);
    }
    if (parts.length === 0) return null;
    if (parts.at(-1)!.startsWith(WHITEOUT_PREFIX)) throw new InvalidParameterError(`ADD refused the archive: entry ${JSON.stringify(name)} is named like a layer whiteout`);
    return [targetDir, ...parts].filter(Boolean).join("/");
  };
  for await (const { header, body } of readTar(decompress(sniffed.stream, detectCompression(sniffed.head)))) {
    const name = under(header.name);
    if (name === null) continue;
    const entry: PackEntry = { name, type: header.type, mode: header.mode, uid: header.uid, gid: header.gid, mtime: Number(header.mtimeNs / 1_000_000_000n) };
    if (header.type === "file") {
      entry.size = header.size;
      entry.body = () => body;
    } else if (header.type === "hardlink") {
      const linked = under(header.linkname);
      if (linked === null) throw new InvalidParameterError(`ADD refused the archive: entry ${JSON.stringify(header.name)} links to the archive root`);
      entry.linkname = linked;
    } else if (header.type === "symlink") entry.linkname = header.linkname;
    else if (header.type === "char" || header.type === "block") {
      entry.devmajor = header.devmajor;
      entry.devminor = header.devminor;
    }
    yield entry;
  }
}
