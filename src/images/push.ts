import { readFileSync } from "node:fs";
import { Readable, pipeline } from "node:stream";
import { createGzip } from "node:zlib";
import { InvalidParameterError, NotFoundError, SystemError } from "../errors";
import type { RegistryCredentials } from "../registry/auth";
import type { RegistryClient } from "../registry/client";
import { parseManifest } from "../registry/manifest";
import { familiarName, familiarString, formatReference, parseReference, parseRepository, repositoryName, type Repository } from "../registry/reference";
import { type Descriptor, type ImageManifest, MediaType } from "../registry/types";
import type { ContentStore } from "./content-store";
import type { ImageGraph, LayerRow } from "./image-graph";
import { compressionOfMediaType, storedBlob } from "./layer-content";
import { ProgressWriter, shortId } from "./progress";
import { toReadableStream } from "./streams";
import type { ImageRecord } from "./types";

export interface PushArgs {
  /** Repository, optionally with a tag (`127.0.0.1:5000/app`, `app:v1`). */
  name: string;
  /** Overrides a tag in `name`; neither means every local tag of the repository. */
  tag?: string;
  credentials?: RegistryCredentials;
}

export interface PushedTag {
  tag: string;
  digest: string;
  size: number;
}

export interface PushDeps {
  registry: RegistryClient;
  content: ContentStore;
  graph: ImageGraph;
}

/** Layers uploading at once; the others show "Waiting" like docker's. */
const CONCURRENT_UPLOADS = 3;

/**
 * The push flow, per tag: every layer blob is checked (HEAD), mounted from another repository of the same
 * registry that has it, or uploaded with progress; then the config and the manifest. The manifest the image was
 * pulled with is pushed byte for byte when it still describes the image, so digests survive a pull → push.
 * Layers that only have an uncompressed tar are gzipped on the way out and the result kept for next time.
 */
export class Pusher {
  constructor(private readonly deps: PushDeps) {}

  async push(args: PushArgs, progress: ProgressWriter, signal: AbortSignal): Promise<PushedTag[]> {
    const ref = parseReference(args.name, { defaultTag: false });
    if (ref.digest) throw new InvalidParameterError(`cannot push a digest reference (${args.name}): push a tag`);
    const repo: Repository = { domain: ref.domain, path: ref.path };
    const tags = args.tag || ref.tag ? [(args.tag || ref.tag)!] : this.localTags(repo);
    if (tags.length === 0) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarName(repo)}`);
    const images = tags.map((tag) => {
      const found = this.deps.graph.find(formatReference({ ...repo, tag }));
      if (!found) throw new NotFoundError(`An image does not exist locally with the tag: ${familiarString({ ...repo, tag })}`);
      return { tag, image: found.image };
    });
    await progress.status(`The push refers to repository [${repositoryName(repo)}]`);
    const pushed: PushedTag[] = [];
    for (const { tag, image } of images) pushed.push(await this.pushTag(repo, tag, image, args.credentials, progress, signal));
    return pushed;
  }

  private localTags(repo: Repository): string[] {
    const prefix = `${repositoryName(repo)}:`;
    return this.deps.graph
      .list()
      .flatMap((image) => this.deps.graph.refsOf(image.id))
      .filter((r) => r.kind === "tag" && r.name.startsWith(prefix))
      .map((r) => r.name.slice(prefix.length));
  }

  private async pushTag(repo: Repository, tag: string, image: ImageRecord, credentials: RegistryCredentials | undefined, progress: ProgressWriter, signal: AbortSignal): Promise<PushedTag> {
    const { registry, graph, content } = this.deps;
    const rows = image.layers.map((chainId) => {
      const row = graph.layer(chainId);
      if (!row) throw new SystemError(`layer ${chainId} is missing from the image store`);
      storedBlob(content, row);
      return row;
    });
    // docker lists the top layer first.
    for (const row of [...rows].reverse()) await progress.status("Preparing", shortId(row.diff_id));
    for (const row of rows.slice(CONCURRENT_UPLOADS).reverse()) await progress.status("Waiting", shortId(row.diff_id));
    const layers = await runLimited(rows, CONCURRENT_UPLOADS, (row) => this.pushLayer(repo, row, credentials, progress, signal));

    const configBytes = graph.configBytes(image.id);
    if (!configBytes) throw new SystemError(`image ${image.id} lost its config`);
    if (!(await registry.blobExists(repo, image.id, { credentials, signal }))) {
      await registry.uploadBlob(repo, configBytes, { digest: image.id, credentials, signal });
    }
    const manifest = this.manifestFor(image, configBytes, layers);
    const digest = await registry.putManifest(formatReference({ ...repo, tag }), manifest.raw, { mediaType: manifest.mediaType, credentials, signal });
    content.put(manifest.raw);
    graph.recordManifest(image.id, repositoryName(repo), digest, manifest.mediaType);
    await progress.status(`${tag}: digest: ${digest} size: ${manifest.raw.length}`);
    await progress.message({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: manifest.raw.length } });
    return { tag, digest, size: manifest.raw.length };
  }

  private async pushLayer(repo: Repository, row: LayerRow, credentials: RegistryCredentials | undefined, progress: ProgressWriter, signal: AbortSignal): Promise<Descriptor> {
    const { registry, content } = this.deps;
    const id = shortId(row.diff_id);
    const blob = storedBlob(content, row);
    if (compressionOfMediaType(blob.mediaType) === "none") return this.compressAndUpload(repo, row, blob, credentials, progress, signal);
    const descriptor: Descriptor = { mediaType: blob.mediaType, digest: blob.digest, size: blob.size };
    if (await registry.blobExists(repo, blob.digest, { credentials, signal })) {
      await progress.status("Layer already exists", id);
      return descriptor;
    }
    for (const source of this.mountSources(repo, blob.digest)) {
      if (await registry.mountBlob(repo, source, blob.digest, { credentials, signal })) {
        await progress.status(`Mounted from ${source.path}`, id);
        return descriptor;
      }
    }
    let sent = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of content.stream(blob.digest)) {
        sent += chunk.length;
        void progress.progress("Pushing", id, sent, blob.size);
        yield chunk;
      }
    }
    await registry.uploadBlob(repo, toReadableStream(counted()), { digest: blob.digest, credentials, signal });
    await progress.progress("Pushing", id, blob.size, blob.size, true);
    await progress.status("Pushed", id);
    return descriptor;
  }

  /** A layer kept only as a plain tar: gzip it while uploading, and keep the gzip as the layer's blob. */
  private async compressAndUpload(repo: Repository, row: LayerRow, plain: { digest: string; size: number }, credentials: RegistryCredentials | undefined, progress: ProgressWriter, signal: AbortSignal): Promise<Descriptor> {
    const { registry, content, graph } = this.deps;
    const id = shortId(row.diff_id);
    let read = 0;
    async function* source(): AsyncGenerator<Uint8Array> {
      for await (const chunk of content.stream(plain.digest)) {
        read += chunk.length;
        void progress.progress("Pushing", id, read, plain.size);
        yield chunk;
      }
    }
    const keep = content.ingest(null);
    const gzip = pipeline(Readable.from(source()), createGzip(), () => {});
    async function* kept(): AsyncGenerator<Uint8Array> {
      for await (const chunk of gzip as AsyncIterable<Uint8Array>) {
        keep.write(chunk);
        yield chunk;
      }
    }
    try {
      const uploaded = await registry.uploadBlob(repo, toReadableStream(kept()), { credentials, signal });
      if (content.has(uploaded.digest)) keep.abort();
      else keep.commit();
      graph.setLayerBlob(row.chain_id, uploaded.digest, MediaType.DockerLayerGzip, uploaded.size);
      if (!graph.allLayers().some((l) => l.blob_digest === plain.digest)) content.delete(plain.digest);
      await progress.progress("Pushing", id, plain.size, plain.size, true);
      await progress.status("Pushed", id);
      return { mediaType: MediaType.DockerLayerGzip, digest: uploaded.digest, size: uploaded.size };
    } catch (err) {
      keep.abort();
      throw err;
    }
  }

  /** Other repositories of the same registry whose manifests (pulled or pushed from here) list the blob. */
  private mountSources(repo: Repository, digest: string): Repository[] {
    const { graph, content } = this.deps;
    const found = new Map<string, Repository>();
    for (const image of graph.list()) {
      for (const m of graph.manifestsOf(image.id)) {
        const source = parseRepository(m.repository);
        if (source.domain !== repo.domain || source.path === repo.path || found.has(source.path) || !content.has(m.manifest_digest)) continue;
        const parsed = parseManifestSafe(content, m.manifest_digest, m.media_type);
        if (parsed?.layers.some((l) => l.digest === digest)) found.set(source.path, source);
      }
    }
    return [...found.values()];
  }

  /** The manifest to push: the one the image came with when it still matches, else a new one. */
  private manifestFor(image: ImageRecord, configBytes: Uint8Array, layers: Descriptor[]): { raw: Uint8Array; mediaType: string } {
    const { graph, content } = this.deps;
    for (const m of graph.manifestsOf(image.id)) {
      const parsed = parseManifestSafe(content, m.manifest_digest, m.media_type);
      if (!parsed || parsed.config.digest !== image.id) continue;
      if (parsed.layers.length === layers.length && parsed.layers.every((l, i) => l.digest === layers[i]!.digest)) {
        return { raw: readSync(content, m.manifest_digest), mediaType: m.media_type };
      }
    }
    const docker = layers.every((l) => compressionOfMediaType(l.mediaType) === "gzip");
    const manifest: ImageManifest = docker
      ? {
          schemaVersion: 2,
          mediaType: MediaType.DockerManifest,
          config: { mediaType: MediaType.DockerConfig, size: configBytes.length, digest: image.id },
          layers: layers.map((l) => ({ mediaType: MediaType.DockerLayerGzip, size: l.size, digest: l.digest })),
        }
      : {
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          config: { mediaType: MediaType.OciConfig, size: configBytes.length, digest: image.id },
          layers: layers.map((l) => ({ mediaType: ociLayerType(l.mediaType), size: l.size, digest: l.digest })),
        };
    return { raw: new TextEncoder().encode(JSON.stringify(manifest, null, 3)), mediaType: manifest.mediaType! };
  }
}

function ociLayerType(mediaType: string): string {
  const compression = compressionOfMediaType(mediaType);
  return compression === "gzip" ? MediaType.OciLayerGzip : compression === "zstd" ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

function readSync(content: ContentStore, digest: string): Uint8Array {
  return new Uint8Array(readFileSync(content.path(digest)));
}

function parseManifestSafe(content: ContentStore, digest: string, mediaType: string): ImageManifest | null {
  if (!content.has(digest)) return null;
  try {
    const parsed = parseManifest(readSync(content, digest), mediaType, digest);
    return parsed.kind === "manifest" ? parsed.manifest : null;
  } catch {
    return null;
  }
}

/** Map over items with at most `limit` running at once, keeping the order of results; no new item starts after a failure. */
async function runLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
