import { Readable, pipeline } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { NotImplementedError } from "../errors";
import { MediaType } from "../registry/types";
import type { ContentStore } from "./content-store";
import type { LayerRow } from "./image-graph";

export type LayerCompression = "gzip" | "zstd" | "none";

export function compressionOfMediaType(mediaType: string): LayerCompression {
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".zstd")) return "zstd";
  if (mediaType.endsWith("+gzip") || mediaType.endsWith(".gzip")) return "gzip";
  return "none";
}

/** The media type to record for a layer blob kept as it arrived. */
export function mediaTypeOfCompression(compression: LayerCompression): string {
  if (compression === "gzip") return MediaType.DockerLayerGzip;
  if (compression === "zstd") return MediaType.OciLayerZstd;
  return MediaType.OciLayer;
}

/** The stored blob of a layer, or a clear error when the layer has none (a layer made from a snapshot). */
export function storedBlob(content: ContentStore, row: LayerRow): { digest: string; mediaType: string; size: number } {
  if (!row.blob_digest || !content.has(row.blob_digest)) {
    throw new NotImplementedError(`layer ${row.diff_id} has no stored content: exporting a layer from its snapshot is not supported yet`);
  }
  return { digest: row.blob_digest, mediaType: row.blob_media_type ?? MediaType.OciLayer, size: content.size(row.blob_digest) };
}

/**
 * The layer as an uncompressed tar stream, with its size (what `docker save` writes and diffIDs are computed
 * over). The size of a compressed blob's tar is the one recorded when the layer was applied.
 */
export function layerTar(content: ContentStore, row: LayerRow): { size: number; stream: AsyncIterable<Uint8Array> } {
  const blob = storedBlob(content, row);
  const compression = compressionOfMediaType(blob.mediaType);
  if (compression === "none") return { size: blob.size, stream: content.stream(blob.digest) };
  const decoder = compression === "gzip" ? createGunzip() : createZstdDecompress();
  // pipeline() carries an error on either side to the other; the consumer sees it on the decoder.
  return { size: row.size, stream: pipeline(Readable.from(content.stream(blob.digest)), decoder, () => {}) };
}
