import type { RegistryCredentials } from "../registry/auth";
import type { RegistryClient } from "../registry/client";
import { parseImageConfig } from "../registry/manifest";
import { familiarString, parseReference } from "../registry/reference";
import type { Descriptor, Platform } from "../registry/types";

export interface DistributionInspect {
  Descriptor: Pick<Descriptor, "mediaType" | "digest" | "size">;
  Platforms: Platform[];
}

/**
 * `GET /distribution/{name}/json`: what a reference points at in its registry, without pulling: the descriptor of
 * the manifest or index, and the platforms it offers (an index's entries, or the single image's config).
 */
export async function distributionInspect(registry: RegistryClient, name: string, credentials: RegistryCredentials | undefined, signal?: AbortSignal): Promise<DistributionInspect> {
  const ref = parseReference(name);
  const fetched = await registry.fetchManifest(ref, { credentials, signal });
  const descriptor = { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.raw.length };
  if (fetched.parsed.kind === "index") {
    const platforms = fetched.parsed.index.manifests.map((m) => m.platform).filter((p): p is Platform => p !== undefined && p.os !== "unknown");
    return { Descriptor: descriptor, Platforms: platforms };
  }
  const config = fetched.parsed.manifest.config;
  const blob = await registry.fetchBlob(ref, config.digest, { size: config.size, credentials, signal });
  const image = parseImageConfig(new Uint8Array(await new Response(blob.stream).arrayBuffer()), familiarString(ref));
  const platform: Platform = { architecture: image.architecture, os: image.os };
  if (image.variant) platform.variant = image.variant;
  if (image["os.version"]) platform["os.version"] = image["os.version"];
  return { Descriptor: descriptor, Platforms: [platform] };
}
