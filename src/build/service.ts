/**
 * The build service: a build receives its context into a scratch directory, runs the Builder over it and removes
 * the directory; prune empties the build cache (and removes the dangling images only the cache kept);
 * `system df` lists the cache.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine/engine";
import type { JobOutput } from "../engine/jobs";
import type { ImageService } from "../images/service";
import type { ImageRecord } from "../images/types";
import { parseReference } from "../registry/reference";
import { log } from "../util/log";
import { Builder, type BuildOptions } from "./builder";
import { BuildCache } from "./cache";
import { ConfinedTree } from "./confined-tree";
import { receiveContext, UploadBody } from "./context";
import { credentialsFor, type RegistryConfig } from "./registry-config";
import type { RootfsViews } from "./rootfs-views";
import type { BuildRunner } from "./runner";

export interface BuildJobArgs {
  /** The request body: the context tar (or a bare Dockerfile). */
  body: AsyncIterable<Uint8Array>;
  /** The Dockerfile's path inside the context. */
  dockerfile?: string;
  options: BuildOptions;
  registryConfig: RegistryConfig;
}

export interface BuildPruneArgs {
  /** Every entry, not only those whose image is dangling. */
  all: boolean;
  /** Only entries last used before this time (ms since the epoch). */
  until?: number;
}

export interface BuildPruneResult {
  CachesDeleted: string[];
  SpaceReclaimed: number;
}

declare module "../engine/jobs" {
  interface JobTable {
    build: { args: BuildJobArgs; result: { imageId: string } };
    "build.prune": { args: BuildPruneArgs; result: BuildPruneResult };
  }
}

export interface BuildServiceDeps {
  images: ImageService;
  engine: Engine;
  views: RootfsViews;
  cache: BuildCache;
  /** How RUN steps run. */
  runner: BuildRunner;
  /** Scratch space for contexts (the data root's tmp/). */
  tmp: string;
}

export class BuildService {
  constructor(private readonly deps: BuildServiceDeps) {}

  async build(args: BuildJobArgs, out: JobOutput, signal: AbortSignal): Promise<string> {
    const dir = join(this.deps.tmp, `build-${crypto.randomUUID()}`);
    const upload = new UploadBody(args.body);
    try {
      const context = await receiveContext(upload, dir, args.dockerfile);
      const tree = new ConfinedTree(context.dir);
      try {
        const builder = new Builder(
          {
            images: this.deps.images,
            cache: this.deps.cache,
            runner: this.deps.runner,
            views: this.deps.views,
            pull: (reference, platform, output, pullSignal) => this.pull(reference, platform, args.registryConfig, output, pullSignal),
          },
          args.options,
          out,
          signal,
        );
        return await builder.build({ context: tree, dockerfileName: context.dockerfileName, dockerfileText: context.dockerfileText });
      } finally {
        tree.close();
      }
    } finally {
      await upload.drain();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private async pull(reference: string, platform: string | undefined, registryConfig: RegistryConfig, output: JobOutput, signal: AbortSignal): Promise<ImageRecord> {
    const credentials = credentialsFor(registryConfig, parseReference(reference).domain);
    const result = await this.deps.engine.run("pull", { reference, platform, credentials }, { stdout: output, signal });
    return result.image;
  }

  async prune(args: BuildPruneArgs): Promise<BuildPruneResult> {
    const { cache, images } = this.deps;
    const graph = images.graph;
    const chosen = cache.entries().filter((e) => {
      if (args.until !== undefined && e.lastUsed >= args.until) return false;
      if (args.all) return true;
      const image = graph.get(e.imageId);
      return !image || image.repoTags.length === 0;
    });
    cache.delete(chosen.map((e) => e.key));
    const layerBytes = () => graph.allLayers().reduce((n, l) => n + l.size, 0);
    const before = layerBytes();
    for (const imageId of new Set(chosen.map((e) => e.imageId))) {
      if (cache.references(imageId)) continue;
      const image = graph.get(imageId);
      if (!image || image.repoTags.length > 0 || image.repoDigests.length > 0) continue;
      try {
        await images.remove(imageId, false, false);
      } catch (err) {
        // In use by a container: the image stays, only its cache entry went.
        log.debug("build prune kept an image", { image: imageId, reason: (err as Error).message });
      }
    }
    return { CachesDeleted: chosen.map((e) => e.key.replace(/^sha256:/, "")), SpaceReclaimed: Math.max(0, before - layerBytes()) };
  }

  /** `system df`'s BuildCache records. */
  diskUsage(): Record<string, unknown>[] {
    const graph = this.deps.images.graph;
    return this.deps.cache.entries().map((e) => {
      const image = graph.get(e.imageId);
      const parent = e.parentId ? graph.get(e.parentId) : null;
      const ownLayer = image?.topLayer && image.layers.length > (parent?.layers.length ?? 0) ? graph.layer(image.topLayer) : null;
      return {
        ID: e.key.replace(/^sha256:/, ""),
        Parents: e.parentId ? [e.parentId.replace(/^sha256:/, "")] : null,
        Type: "regular",
        Description: e.description,
        InUse: false,
        Shared: (image?.repoTags.length ?? 0) > 0,
        Size: ownLayer?.size ?? 0,
        CreatedAt: new Date(e.created).toISOString(),
        LastUsedAt: new Date(e.lastUsed).toISOString(),
        UsageCount: e.usageCount,
      };
    });
  }
}
