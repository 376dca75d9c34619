import { NotFoundError, SystemError } from "../errors";
import { familiarName, familiarString, formatReference, parseReference, repositoryName } from "../registry/reference";
import { type Descriptor, type ImageIndex, type ImageManifest, MediaType } from "../registry/types";
import type { ContentStore } from "./content-store";
import type { ImageGraph, LayerRow } from "./image-graph";
import { layerTar, storedBlob } from "./layer-content";
import { toReadableStream } from "./streams";
import { type TarDirectory, type TarFile, writeTar } from "./tar-writer";
import type { ImageRecord } from "./types";

export interface SaveDeps {
  graph: ImageGraph;
  content: ContentStore;
}

/** One image of the archive and the tags it is saved under (none when it was named by ID). */
interface SavedImage {
  image: ImageRecord;
  /** Fully-qualified `repo:tag` names. */
  tags: string[];
}

/** What `docker save` will write, checked before the first byte so that errors are still HTTP errors. */
export interface SavePlan {
  images: SavedImage[];
}

const blobPath = (digest: string) => `blobs/${digest.replace(":", "/")}`;

/**
 * docker's rules for the names given to `docker save`: `repo:tag` saves that tag, a bare repository name
 * saves every tag of it, an ID saves the image untagged. The same image named twice is written once.
 */
export function planSave(deps: SaveDeps, names: readonly string[]): SavePlan {
  const byId = new Map<string, SavedImage>();
  const add = (image: ImageRecord, tag: string | null) => {
    const entry = byId.get(image.id) ?? { image, tags: [] };
    if (tag && !entry.tags.includes(tag)) entry.tags.push(tag);
    byId.set(image.id, entry);
  };
  for (const name of names) {
    let bare: string | null = null;
    try {
      const ref = parseReference(name, { defaultTag: false });
      if (ref.tag === undefined && ref.digest === undefined) bare = repositoryName(ref);
    } catch {
      bare = null;
    }
    const tagged = bare ? deps.graph.list().flatMap((image) => deps.graph.refsOf(image.id).filter((r) => r.kind === "tag" && r.name.startsWith(`${bare}:`)).map((r) => ({ image, name: r.name }))) : [];
    if (tagged.length > 0) {
      for (const t of tagged) add(t.image, t.name);
      continue;
    }
    const found = deps.graph.find(name);
    if (!found) throw new NotFoundError(`reference does not exist: ${name}`);
    const kind = found.refName ? deps.graph.refsOf(found.image.id).find((r) => r.name === found.refName)?.kind : undefined;
    add(found.image, kind === "tag" ? found.refName : null);
  }
  const images = [...byId.values()];
  // Every layer must have content to write; find out now rather than halfway through the stream.
  for (const { image } of images) for (const chainId of image.layers) storedBlob(deps.content, layerRow(deps, chainId));
  return { images };
}

function layerRow(deps: SaveDeps, chainId: string): LayerRow {
  const row = deps.graph.layer(chainId);
  if (!row) throw new SystemError(`layer ${chainId} is missing from the image store`);
  return row;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function file(name: string, body: Uint8Array): TarFile {
  return { name, size: body.length, body };
}

/**
 * Streams the archive docker 25+ writes: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…` with
 * the configs, OCI manifests and uncompressed layer tars named by diffID) that also carries the docker-archive
 * `manifest.json` and `repositories`, so both old and new loaders read it. Each layer tar is hashed on the way
 * out: content that no longer matches its diffID fails the stream instead of producing a bad archive.
 */
export function saveArchive(deps: SaveDeps, plan: SavePlan): ReadableStream<Uint8Array> {
  return toReadableStream(writeTar(entries(deps, plan)));
}

async function* entries(deps: SaveDeps, plan: SavePlan): AsyncGenerator<TarFile | TarDirectory> {
  yield { name: "blobs", directory: true };
  yield { name: "blobs/sha256", directory: true };
  const written = new Set<string>();
  const layerSizes = new Map<string, number>();
  const dockerManifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[] = [];
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
  const repositories: Record<string, Record<string, string>> = {};

  for (const { image, tags } of plan.images) {
    const layers: Descriptor[] = [];
    for (const chainId of image.layers) {
      const row = layerRow(deps, chainId);
      let size = layerSizes.get(row.diff_id);
      if (size === undefined) {
        const tar = layerTar(deps.content, row);
        size = tar.size;
        layerSizes.set(row.diff_id, size);
        yield { name: blobPath(row.diff_id), size, body: verified(tar.stream, row.diff_id) };
      }
      layers.push({ mediaType: MediaType.OciLayer, digest: row.diff_id, size });
    }
    const config = deps.graph.configBytes(image.id);
    if (!config) throw new SystemError(`image ${image.id} lost its config`);
    if (!written.has(image.id)) {
      written.add(image.id);
      yield file(blobPath(image.id), config);
    }
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: image.id, size: config.length },
      layers,
    };
    const manifestBytes = json(manifest);
    const manifestDigest = `sha256:${new Bun.CryptoHasher("sha256").update(manifestBytes).digest("hex")}`;
    if (!written.has(manifestDigest)) {
      written.add(manifestDigest);
      yield file(blobPath(manifestDigest), manifestBytes);
    }
    const descriptor: Descriptor = { mediaType: MediaType.OciManifest, digest: manifestDigest, size: manifestBytes.length };
    if (tags.length === 0) index.manifests.push(descriptor);
    for (const name of tags) {
      const ref = parseReference(name);
      index.manifests.push({ ...descriptor, annotations: { "io.containerd.image.name": formatReference(ref), "org.opencontainers.image.ref.name": ref.tag ?? "latest" } });
      (repositories[familiarName(ref)] ??= {})[ref.tag ?? "latest"] = image.id.replace("sha256:", "");
    }
    dockerManifest.push({
      Config: blobPath(image.id),
      RepoTags: tags.length ? tags.map((t) => familiarString(parseReference(t))) : null,
      Layers: layers.map((l) => blobPath(l.digest)),
    });
  }
  yield file("index.json", json(index));
  yield file("manifest.json", json(dockerManifest));
  yield file("oci-layout", json({ imageLayoutVersion: "1.0.0" }));
  if (Object.keys(repositories).length) yield file("repositories", json(repositories));
}

async function* verified(stream: AsyncIterable<Uint8Array>, diffId: string): AsyncGenerator<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of stream) {
    hasher.update(chunk);
    yield chunk;
  }
  const actual = `sha256:${hasher.digest("hex")}`;
  if (actual !== diffId) throw new SystemError(`layer ${diffId} is corrupt in the content store (its content hashes to ${actual})`);
}
