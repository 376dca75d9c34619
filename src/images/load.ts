import { posix } from "node:path";
import { InvalidParameterError, NotFoundError } from "../errors";
import { readTar } from "../layers/tar-reader";
import { parseImageConfig, parseManifest } from "../registry/manifest";
import { hostPlatform, parsePlatform, selectPlatformManifest } from "../registry/platform";
import { familiarString, formatReference, parseReference } from "../registry/reference";
import type { Descriptor, ImageConfig, Platform } from "../registry/types";
import type { ContentStore } from "./content-store";
import { chainIds, type ImageGraph, type NewLayer } from "./image-graph";
import { commitLayer, type LayerTarget } from "./layer-commit";
import { compressionOfMediaType, mediaTypeOfCompression, type LayerCompression } from "./layer-content";
import { shortId, type ProgressWriter } from "./progress";

export interface LoadDeps extends LayerTarget {
  graph: ImageGraph;
  content: ContentStore;
}

export interface LoadArgs {
  /** Without progress bars ("Loading layer"); the "Loaded image" lines are always written. */
  quiet: boolean;
  /** Which entry of an OCI index to load; default this host's platform. */
  platform?: string;
}

/** An image found in the archive: its config and layer files, by content digest, and the names it carries. */
interface ArchivedImage {
  configDigest: string;
  layers: { digest: string; mediaType: string | null }[];
  /** Fully-qualified `repo:tag` names. */
  tags: string[];
}

/** The archive's files, spooled into the content store as they stream past (name → digest). */
class SpooledArchive {
  readonly files = new Map<string, string>();
  readonly links = new Map<string, string>();
  /** Blobs this load added to the content store (removed again unless an image ends up using them). */
  readonly fresh = new Set<string>();

  constructor(readonly content: ContentStore) {}

  async spool(body: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<void> {
    for await (const entry of readTar(body)) {
      signal.throwIfAborted();
      const name = cleanName(entry.header.name);
      if (entry.header.type === "symlink") this.links.set(name, posix.join(posix.dirname(name), entry.header.linkname));
      if (entry.header.type !== "file") continue;
      const hasher = new Bun.CryptoHasher("sha256");
      const writer = this.content.ingestHashedByCaller(null);
      try {
        for await (const chunk of entry.body) {
          hasher.update(chunk);
          writer.write(chunk);
        }
      } catch (err) {
        writer.abort();
        throw err;
      }
      const digest = `sha256:${hasher.digest("hex")}`;
      if (this.content.has(digest)) writer.abort();
      else {
        writer.commit(digest);
        this.fresh.add(digest);
      }
      this.files.set(name, digest);
    }
  }

  /** Digest of the file at `path` (following the archive's own symlinks), or null. */
  lookup(path: string): string | null {
    let name = cleanName(path);
    for (let hops = 0; hops < 16; hops++) {
      const digest = this.files.get(name);
      if (digest) return digest;
      const target = this.links.get(name);
      if (!target) return null;
      name = cleanName(target);
    }
    return null;
  }

  require(path: string, what: string): string {
    const digest = this.lookup(path);
    if (!digest) throw new InvalidParameterError(`invalid archive: ${what} ${JSON.stringify(path)} is missing`);
    return digest;
  }

  async json(path: string): Promise<unknown> {
    const digest = this.lookup(path);
    if (!digest) return undefined;
    try {
      return JSON.parse(new TextDecoder().decode(await this.content.read(digest)));
    } catch {
      throw new InvalidParameterError(`invalid archive: ${path} is not valid JSON`);
    }
  }
}

/** Archive member names are relative; nothing may climb out (they only ever name other members). */
function cleanName(name: string): string {
  const cleaned = posix.normalize(`/${name}`).slice(1).replace(/\/$/, "");
  if (cleaned.split("/").includes("..")) throw new InvalidParameterError(`invalid archive entry ${JSON.stringify(name)}`);
  return cleaned;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `manifest.json` of a docker-archive: `[{Config, RepoTags, Layers}]`. */
function dockerArchiveImages(archive: SpooledArchive, manifest: unknown): ArchivedImage[] {
  if (!Array.isArray(manifest)) throw new InvalidParameterError("invalid archive: manifest.json must be an array");
  return manifest.map((entry, i) => {
    if (!isObject(entry) || typeof entry.Config !== "string" || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === "string")) {
      throw new InvalidParameterError(`invalid archive: manifest.json entry ${i} needs Config and Layers`);
    }
    const tags = Array.isArray(entry.RepoTags) ? entry.RepoTags.filter((t): t is string => typeof t === "string") : [];
    return {
      configDigest: archive.require(entry.Config, "config"),
      layers: (entry.Layers as string[]).map((path) => ({ digest: archive.require(path, "layer"), mediaType: null })),
      tags: tags.map((t) => formatReference(parseReference(t))),
    };
  });
}

/** An OCI image layout: `index.json` → manifests (or nested indexes, narrowed to one platform) → blobs. */
async function ociLayoutImages(archive: SpooledArchive, index: unknown, platform: Platform): Promise<ArchivedImage[]> {
  const blob = (desc: Descriptor, what: string) => {
    const digest = archive.require(`blobs/${desc.digest.replace(":", "/")}`, what);
    if (digest !== desc.digest) throw new InvalidParameterError(`invalid archive: ${what} ${desc.digest} hashes to ${digest}`);
    return digest;
  };
  const images: ArchivedImage[] = [];
  const visit = async (raw: Uint8Array, names: string[], depth: number): Promise<void> => {
    const parsed = parseManifest(raw, null, "archive");
    if (parsed.kind === "index") {
      if (depth > 4) throw new InvalidParameterError("invalid archive: indexes nested too deep");
      const top = depth === 0;
      const chosen = top ? parsed.index.manifests : [selectPlatformManifest(parsed.index.manifests, platform)].filter((d): d is Descriptor => d !== undefined);
      for (const desc of chosen) {
        const descNames = top ? namesOf(desc) : names;
        await visit(await archive.content.read(blob(desc, "manifest")), descNames, depth + 1);
      }
      return;
    }
    const m = parsed.manifest;
    images.push({
      configDigest: blob(m.config, "config"),
      layers: m.layers.map((l) => ({ digest: blob(l, "layer"), mediaType: l.mediaType })),
      tags: names,
    });
  };
  await visit(new TextEncoder().encode(JSON.stringify(index)), [], 0);
  return images;
}

/** The image name an index entry carries (containerd's annotation, or a full reference as the OCI ref name). */
function namesOf(desc: Descriptor): string[] {
  const full = desc.annotations?.["io.containerd.image.name"];
  const refName = desc.annotations?.["org.opencontainers.image.ref.name"];
  for (const candidate of [full, refName]) {
    if (!candidate || !/[:/]/.test(candidate)) continue;
    try {
      const ref = parseReference(candidate);
      if (ref.tag) return [formatReference({ domain: ref.domain, path: ref.path, tag: ref.tag })];
    } catch {
      // not a reference: an OCI tag alone names nothing we can use
    }
  }
  return [];
}

async function sniffCompression(content: ContentStore, digest: string): Promise<LayerCompression> {
  const head = await Bun.file(content.path(digest)).slice(0, 4).bytes();
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  return "none";
}

/**
 * `docker load`: a docker-archive (`manifest.json`) or an OCI layout (`index.json`) tarball, layers gzip, zstd or
 * plain. The request body streams into the content store file by file (the index of a docker-archive comes last,
 * so nothing can be applied before the whole archive is in); then each image's missing layers are committed in
 * chain order and the image is recorded. The layer files stay as the layers' blobs (for push and save); what no
 * image uses is removed again.
 */
export async function loadArchive(deps: LoadDeps, body: AsyncIterable<Uint8Array>, args: LoadArgs, progress: ProgressWriter, signal: AbortSignal): Promise<{ id: string; names: string[] }[]> {
  const archive = new SpooledArchive(deps.content);
  const loaded: { id: string; names: string[] }[] = [];
  try {
    await archive.spool(body, signal);
    const manifest = await archive.json("manifest.json");
    const index = await archive.json("index.json");
    let images: ArchivedImage[];
    if (manifest !== undefined) images = dockerArchiveImages(archive, manifest);
    else if (index !== undefined) images = await ociLayoutImages(archive, index, args.platform ? parsePlatform(args.platform) : hostPlatform());
    else throw new InvalidParameterError("invalid archive: neither manifest.json nor index.json found (is it a docker save or OCI layout tarball?)");
    if (images.length === 0) throw new NotFoundError("no images found in the archive");
    for (const image of images) {
      loaded.push(await loadImage(deps, image, args, progress, signal));
    }
  } finally {
    const keep = new Set<string>(loaded.map((l) => l.id));
    for (const row of deps.graph.allLayers()) if (row.blob_digest) keep.add(row.blob_digest);
    for (const digest of archive.fresh) if (!keep.has(digest)) deps.content.delete(digest);
  }
  return loaded;
}

async function loadImage(deps: LoadDeps, image: ArchivedImage, args: LoadArgs, progress: ProgressWriter, signal: AbortSignal): Promise<{ id: string; names: string[] }> {
  const { graph, content, driver } = deps;
  const configBytes = await content.read(image.configDigest);
  const config: ImageConfig = parseImageConfig(configBytes, "archive");
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== image.layers.length) {
    throw new InvalidParameterError(`invalid archive: image ${image.configDigest} lists ${diffIds.length} diff IDs but has ${image.layers.length} layers`);
  }
  const chain = chainIds(diffIds);
  const layers: NewLayer[] = [];
  for (const [i, file] of image.layers.entries()) {
    const chainId = chain[i]!;
    const parent = i === 0 ? null : chain[i - 1]!;
    const compression = file.mediaType ? compressionOfMediaType(file.mediaType) : await sniffCompression(content, file.digest);
    const blob = { blobDigest: file.digest, blobMediaType: file.mediaType ?? mediaTypeOfCompression(compression), blobSize: content.size(file.digest) };
    if (driver.exists(chainId)) {
      const size = graph.layer(chainId)?.size ?? (await driver.usage(chainId)).size;
      layers.push({ chainId, diffId: diffIds[i]!, parent, size, ...blob });
      continue;
    }
    const id = shortId(chainId);
    const applied = await commitLayer(deps, {
      chainId,
      parent,
      blob: content.stream(file.digest),
      expectedDigest: file.digest,
      expectedDiffID: diffIds[i]!,
      onProgress: args.quiet ? undefined : (n) => void progress.progress("Loading layer", id, n, blob.blobSize),
      signal,
    });
    if (!args.quiet) await progress.progress("Loading layer", id, blob.blobSize, blob.blobSize, true);
    layers.push({ chainId, diffId: applied.diffID, parent, size: applied.size, ...blob });
  }
  const id = image.configDigest;
  for (const name of image.tags) {
    const previous = graph.find(name);
    if (previous && previous.refName && previous.image.id !== id) {
      await progress.message({ stream: `The image ${familiarString(parseReference(name))} already exists, renaming the old one with ID ${previous.image.id} to empty string\n` });
    }
  }
  graph.addImage(id, configBytes, config, layers, image.tags.map((name) => ({ name, kind: "tag" as const })), []);
  if (image.tags.length === 0) await progress.message({ stream: `Loaded image ID: ${id}\n` });
  for (const name of image.tags) await progress.message({ stream: `Loaded image: ${familiarString(parseReference(name))}\n` });
  return { id, names: image.tags.map((name) => familiarString(parseReference(name))) };
}
