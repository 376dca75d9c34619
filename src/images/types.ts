import type { GraphDriver } from "../../drivers/graph/types";
import type { ImageConfig } from "../registry/types";

/** An image as the ImageGraph knows it. `id` is `sha256:<hex of the config>`. */
export interface ImageRecord {
  id: string;
  config: ImageConfig;
  /** chainIDs of the layers, base first; empty for an image with no layers (e.g. FROM scratch + metadata). */
  layers: string[];
  /** The GraphDriver snapshot key to build a container's RW layer on (the top chainID), or null. */
  topLayer: string | null;
  /** Uncompressed size of all layers. */
  size: number;
  created: string;
  repoTags: string[];
  repoDigests: string[];
  parent: string;
}

/**
 * What the container service (and build) need from images: resolve a name the way docker does, keep an
 * image from being deleted while a container uses it, and the GraphDriver holding the layers.
 */
export interface ImageLookup {
  readonly graphDriver: GraphDriver;
  /** `busybox`, `busybox:1`, `127.0.0.1:5000/x@sha256:…`, a full or short image ID. Throws NotFoundError `No such image: <name>`. */
  resolve(nameOrId: string): ImageRecord;
  /** Docker's familiar name of an image for display (first tag, or the ID). */
  displayName(image: ImageRecord): string;
}
