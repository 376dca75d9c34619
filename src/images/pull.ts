import type { GraphDriver } from "../../drivers/graph/types";
import { InvalidParameterError, NotFoundError } from "../errors";
import type { AppliedLayer } from "../layers/apply";
import type { RegistryCredentials } from "../registry/auth";
import type { RegistryClient } from "../registry/client";
import { parseImageConfig } from "../registry/manifest";
import { platformMatches, parsePlatform } from "../registry/platform";
import { familiarString, formatReference, parseReference, repositoryName, type Reference } from "../registry/reference";
import type { Descriptor, ImageConfig, Platform } from "../registry/types";
import type { ContentStore } from "./content-store";
import { chainIds, type ImageGraph, type NewLayer } from "./image-graph";
import { commitLayer } from "./layer-commit";
import { ProgressWriter, shortId } from "./progress";
import type { ImageRecord } from "./types";

export interface PullArgs {
  reference: string;
  platform?: string;
  credentials?: RegistryCredentials;
}

export interface PullResult {
  image: ImageRecord;
  /** The digest the reference resolved to (the index's when it named one): docker's RepoDigest. */
  digest: string;
}

export interface PullDeps {
  registry: RegistryClient;
  content: ContentStore;
  graph: ImageGraph;
  driver: GraphDriver;
  /** Scratch directory on the same filesystem as the driver's home. */
  tmp: string;
}

/**
 * The pull flow: resolve the manifest (choosing a platform from an index), fetch the config, then every
 * missing layer downloads and extracts in parallel. Each layer streams blob → sha256 → gunzip → sha256
 * (diffID) → tar extraction, with the compressed bytes also kept in the content store (for push/save).
 * For overlay the layers extract side by side into scratch directories and are committed in chain order;
 * drivers that apply on a copy of the parent extract in order after parallel downloads. The image only
 * appears in the ImageGraph once every layer is committed, in one transaction.
 */
export class Puller {
  /** In-flight layer work by chainID, so concurrent pulls sharing layers do it once. */
  private inflight = new Map<string, Promise<NewLayer>>();

  constructor(private readonly deps: PullDeps) {}

  async pull(args: PullArgs, progress: ProgressWriter, signal: AbortSignal): Promise<PullResult> {
    const { registry, content, graph } = this.deps;
    const ref = parseReference(args.reference);
    const platform: Platform | undefined = args.platform ? parsePlatform(args.platform) : undefined;
    await progress.status(`Pulling from ${ref.path}`, ref.digest ?? ref.tag ?? "latest");

    const resolved = await registry.getManifest(ref, { platform, credentials: args.credentials, signal });
    const configDesc = resolved.manifest.config;
    const configBytes = await this.fetchSmallBlob(ref, configDesc, args.credentials, signal);
    const config = parseImageConfig(configBytes, formatReference(ref));
    if (platform && !resolved.index && !platformMatches(platform, { os: config.os, architecture: config.architecture, variant: config.variant })) {
      throw new NotFoundError(`image with reference ${familiarString(ref)} was found but does not match the specified platform: wanted ${args.platform}, actual: ${config.os}/${config.architecture}`);
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== resolved.manifest.layers.length)
      throw new InvalidParameterError(`invalid image ${familiarString(ref)}: manifest has ${resolved.manifest.layers.length} layers but the config lists ${diffIds.length} diff IDs`);
    const chain = chainIds(diffIds);
    const imageId = configDesc.digest;
    const existed = graph.get(imageId) !== null;

    for (const [i, layer] of resolved.manifest.layers.entries())
      await progress.status(this.deps.driver.exists(chain[i]!) ? "Already exists" : "Pulling fs layer", shortId(layer.digest));

    const committed: Promise<NewLayer>[] = [];
    for (const [i, desc] of resolved.manifest.layers.entries()) {
      const parent = i === 0 ? Promise.resolve(null) : committed[i - 1]!.then((l) => l.chainId);
      committed.push(this.layer(ref, desc, diffIds[i]!, chain[i]!, parent, args.credentials, progress, signal));
    }
    // Let every layer settle before reporting, so no download outlives a failed pull.
    const settled = await Promise.allSettled(committed);
    const failed = settled.find((s) => s.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const layers = settled.map((s) => (s as PromiseFulfilledResult<NewLayer>).value);

    content.put(resolved.raw);
    if (resolved.index) content.put(resolved.index.raw);
    const repoDigest = resolved.index?.digest ?? resolved.digest;
    const repo = repositoryName(ref);
    const refs: { name: string; kind: "tag" | "digest" }[] = [{ name: `${repo}@${repoDigest}`, kind: "digest" }];
    if (!ref.digest && ref.tag) refs.push({ name: formatReference(ref), kind: "tag" });
    graph.addImage(imageId, configBytes, config, layers, refs, [{ repository: repo, digest: resolved.digest, mediaType: resolved.mediaType }]);

    await progress.status(`Digest: ${repoDigest}`);
    await progress.status(existed ? `Status: Image is up to date for ${familiarString(ref)}` : `Status: Downloaded newer image for ${familiarString(ref)}`);
    return { image: graph.get(imageId)!, digest: repoDigest };
  }

  private async fetchSmallBlob(ref: Reference, desc: Descriptor, credentials: RegistryCredentials | undefined, signal: AbortSignal): Promise<Uint8Array> {
    if (this.deps.content.has(desc.digest)) return this.deps.content.read(desc.digest);
    const blob = await this.deps.registry.fetchBlob(ref, desc.digest, { size: desc.size, credentials, signal });
    const bytes = new Uint8Array(await new Response(blob.stream).arrayBuffer());
    this.deps.content.put(bytes);
    return bytes;
  }

  private layer(ref: Reference, desc: Descriptor, diffId: string, chainId: string, parent: Promise<string | null>, credentials: RegistryCredentials | undefined, progress: ProgressWriter, signal: AbortSignal): Promise<NewLayer> {
    const running = this.inflight.get(chainId);
    if (running) return running;
    const work = this.fetchLayer(ref, desc, diffId, chainId, parent, credentials, progress, signal).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, work);
    return work;
  }

  private async fetchLayer(ref: Reference, desc: Descriptor, diffId: string, chainId: string, parentP: Promise<string | null>, credentials: RegistryCredentials | undefined, progress: ProgressWriter, signal: AbortSignal): Promise<NewLayer> {
    const { driver, graph, content, registry } = this.deps;
    const id = shortId(desc.digest);
    if (driver.exists(chainId)) {
      const parent = await parentP;
      const known = graph.layer(chainId);
      const size = known?.size ?? (await driver.usage(chainId)).size;
      return { chainId, diffId, parent, size, blobDigest: known?.blob_digest ?? null, blobMediaType: known?.blob_media_type ?? null, blobSize: known?.blob_size ?? null };
    }
    const total = desc.size;
    const onProgress = (n: number) => void progress.progress("Downloading", id, n, total);
    let applied: AppliedLayer;
    if (driver.whiteoutMode === "overlay") {
      // Download and extraction overlap: the blob streams into the content store and the layer at once. The
      // layer apply hashes the blob and verifies its digest; the store keeps the bytes under that verified digest.
      const blob = await registry.fetchBlob(ref, desc.digest, { size: desc.size, credentials, signal, verify: false });
      const keep = content.has(desc.digest) ? null : content.ingestHashedByCaller(desc.digest, desc.size);
      async function* tee(): AsyncGenerator<Uint8Array> {
        for await (const chunk of blob.stream) {
          keep?.write(chunk);
          yield chunk;
        }
      }
      try {
        applied = await commitLayer(this.deps, {
          chainId,
          parent: parentP,
          blob: tee(),
          expectedDigest: desc.digest,
          expectedDiffID: diffId,
          onProgress,
          onApplied: async (verified) => {
            keep?.commit(verified.digest);
            await this.downloaded(progress, id, total);
          },
          signal,
        });
      } catch (err) {
        keep?.abort();
        throw err;
      }
    } else {
      // The layer applies on top of a copy of its parent: download in parallel, extract in chain order.
      if (!content.has(desc.digest)) await this.downloadToStore(ref, desc, credentials, onProgress, signal);
      await this.downloaded(progress, id, total);
      applied = await commitLayer(this.deps, { chainId, parent: parentP, blob: content.stream(desc.digest), expectedDigest: desc.digest, expectedDiffID: diffId, signal });
    }
    await progress.progress("Extracting", id, total, total, true);
    await progress.status("Pull complete", id);
    return { chainId, diffId: applied.diffID, parent: await parentP, size: applied.size, blobDigest: desc.digest, blobMediaType: desc.mediaType, blobSize: desc.size };
  }

  private async downloadToStore(ref: Reference, desc: Descriptor, credentials: RegistryCredentials | undefined, onProgress: (n: number) => void, signal: AbortSignal): Promise<void> {
    // The content store verifies size and digest before the blob becomes visible.
    const blob = await this.deps.registry.fetchBlob(ref, desc.digest, { size: desc.size, credentials, signal, verify: false });
    const writer = this.deps.content.ingest(desc.digest, desc.size);
    try {
      let n = 0;
      for await (const chunk of blob.stream) {
        writer.write(chunk);
        onProgress((n += chunk.length));
      }
      writer.commit();
    } catch (err) {
      writer.abort();
      throw err;
    }
  }

  private async downloaded(progress: ProgressWriter, id: string, total: number): Promise<void> {
    await progress.progress("Downloading", id, total, total, true);
    await progress.status("Verifying Checksum", id);
    await progress.status("Download complete", id);
  }
}

export type { ImageConfig };
