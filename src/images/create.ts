import { SystemError } from "../errors";
import { formatReference, parseReference } from "../registry/reference";
import type { ImageConfig } from "../registry/types";
import type { ContentStore } from "./content-store";
import { chainIds, type ImageGraph, type NewLayer } from "./image-graph";
import { commitLayer, type LayerTarget } from "./layer-commit";
import { mediaTypeOfCompression } from "./layer-content";
import type { ImageRecord } from "./types";

export interface CreateImageDeps extends LayerTarget {
  graph: ImageGraph;
  content: ContentStore;
}

/** A new image: a parent's layers plus at most one new layer, and a config. */
export interface NewImage {
  /** The image the new one builds on (its layers come first), or null for a base image. */
  parent: ImageRecord | null;
  /** The new top layer as a tar stream (gzip, zstd or plain), or null for a config-only image. */
  layer: AsyncIterable<Uint8Array> | null;
  /** The whole config except `rootfs`, which is filled in from the parent's layers and the new one. */
  config: Omit<ImageConfig, "rootfs">;
  /** `repo[:tag]` to point at the new image. */
  reference?: string;
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
}

/**
 * What import and commit share: apply the layer tar as a new snapshot on top of the parent's chain, keep the tar
 * as it came (compressed or not) as the layer's blob for push and save, and record the image in one transaction.
 */
export async function createImage(deps: CreateImageDeps, spec: NewImage): Promise<ImageRecord> {
  const { graph, content } = deps;
  const parentDiffIds = spec.parent?.config.rootfs.diff_ids ?? [];
  const layers: NewLayer[] = (spec.parent?.layers ?? []).map((chainId) => {
    const row = graph.layer(chainId);
    if (!row) throw new SystemError(`layer ${chainId} of ${spec.parent?.id} is missing from the image store`);
    return { chainId, diffId: row.diff_id, parent: row.parent, size: row.size, blobDigest: row.blob_digest, blobMediaType: row.blob_media_type, blobSize: row.blob_size };
  });
  const diffIds = [...parentDiffIds];
  if (spec.layer) {
    const source = spec.layer;
    // The layer apply hashes the blob (its sha256 when no digest is expected): the store keeps it under that.
    const keep = content.ingestHashedByCaller(null);
    async function* tee(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        keep.write(chunk);
        yield chunk;
      }
    }
    const parent = spec.parent?.topLayer ?? null;
    let freshBlob: string | null = null;
    try {
      const applied = await commitLayer(deps, {
        chainId: (applied) => chainIds([...parentDiffIds, applied.diffID]).at(-1)!,
        parent,
        blob: tee(),
        expectedDigest: null,
        onProgress: spec.onProgress,
        onApplied: (applied) => {
          if (content.has(applied.digest)) keep.abort();
          else freshBlob = keep.commit(applied.digest);
        },
        signal: spec.signal,
      });
      diffIds.push(applied.diffID);
      const chainId = chainIds(diffIds).at(-1)!;
      layers.push({ chainId, diffId: applied.diffID, parent, size: applied.size, blobDigest: applied.digest, blobMediaType: mediaTypeOfCompression(applied.compression), blobSize: applied.compressedSize });
    } catch (err) {
      keep.abort();
      if (freshBlob) content.delete(freshBlob);
      throw err;
    }
  }
  const config: ImageConfig = { ...spec.config, rootfs: { type: "layers", diff_ids: diffIds } };
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const id = content.put(configBytes);
  const refs = spec.reference ? [{ name: formatReference(parseReference(spec.reference)), kind: "tag" as const }] : [];
  graph.addImage(id, configBytes, config, layers, refs, []);
  return graph.get(id)!;
}
