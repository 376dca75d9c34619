import { readdirSync, rmSync } from "node:fs";
import type { GraphDriver } from "../../drivers/graph/types";
import { GraphDriverError } from "../../drivers/graph/errors";
import type { DaemonContext } from "../daemon/daemon";
import { ConflictError, NotFoundError } from "../errors";
import { decodeRegistryAuthHeader, type RegistryCredentials } from "../registry/auth";
import { RegistryClient } from "../registry/client";
import { familiarString, formatReference, parseReference } from "../registry/reference";
import { log } from "../util/log";
import { ContentStore } from "./content-store";
import { displayNameOf, ImageGraph } from "./image-graph";
import { ProgressWriter } from "./progress";
import { login } from "./auth";
import { createImage, type CreateImageDeps, type NewImage } from "./create";
import { distributionInspect, type DistributionInspect } from "./distribution";
import { importImage, type ImportArgs } from "./import";
import { loadArchive, type LoadArgs } from "./load";
import { Puller, type PullArgs, type PullResult } from "./pull";
import { Pusher, type PushArgs, type PushedTag } from "./push";
import { planSave, saveArchive } from "./save";
import { searchImages, type SearchArgs, type SearchResult } from "./search";
import type { ImageLookup, ImageRecord } from "./types";

declare module "../engine/jobs" {
  interface JobTable {
    pull: { args: PullArgs; result: PullResult };
    push: { args: PushArgs; result: PushedTag[] };
    "image.load": { args: LoadArgs & { body: AsyncIterable<Uint8Array> }; result: { id: string; names: string[] }[] };
    "image.import": { args: ImportArgs & { body: AsyncIterable<Uint8Array> }; result: ImageRecord };
    "image.remove": { args: { name: string; force: boolean; noprune: boolean }; result: DeleteResponseItem[] };
    "image.tag": { args: { source: string; repo: string; tag?: string }; result: void };
    "image.prune": { args: { danglingOnly: boolean }; result: { ImagesDeleted: DeleteResponseItem[]; SpaceReclaimed: number } };
  }
}

export type DeleteResponseItem = { Untagged: string } | { Deleted: string };

/** Says whether a container uses an image (the container service answers; images cannot know). */
export type ImageUsage = (imageId: string) => { running: boolean; containerId: string } | null;

/** The image service: the ImageGraph, the content store and the GraphDriver behind pull/inspect/tag/rmi. */
export class ImageService implements ImageLookup {
  readonly graph: ImageGraph;
  readonly content: ContentStore;
  readonly registry: RegistryClient;
  private readonly puller: Puller;
  private readonly pusher: Pusher;
  private usage: ImageUsage = () => null;
  private containerCount: (imageId: string) => number = () => 0;

  constructor(
    private readonly ctx: DaemonContext,
    readonly graphDriver: GraphDriver,
  ) {
    this.graph = new ImageGraph(ctx.db);
    this.content = new ContentStore(ctx.dataRoot.content);
    this.registry = new RegistryClient({ insecureRegistries: ctx.config.insecureRegistries, mirrors: ctx.config.registryMirrors });
    this.puller = new Puller({ registry: this.registry, content: this.content, graph: this.graph, driver: graphDriver, tmp: ctx.dataRoot.tmp });
    this.pusher = new Pusher({ registry: this.registry, content: this.content, graph: this.graph });
  }

  /** What load, import and commit write layers and images with. */
  private get store(): CreateImageDeps {
    return { graph: this.graph, content: this.content, driver: this.graphDriver, tmp: this.ctx.dataRoot.tmp };
  }

  setUsage(usage: ImageUsage): void {
    this.usage = usage;
  }

  /** How many containers use an image (`system df`); the container service answers. */
  setContainerCount(count: (imageId: string) => number): void {
    this.containerCount = count;
  }

  /**
   * Start-up reconciliation: ingest leftovers go, snapshots no layer row or container accounts for (a pull
   * or commit that died half way) go, layer rows whose snapshot vanished are reported.
   */
  async reconcile(isContainerSnapshot: (key: string) => boolean): Promise<void> {
    const removedIngests = this.content.init();
    if (removedIngests) log.info("removed interrupted downloads", { count: removedIngests });
    const known = new Set(this.graph.allLayers().map((l) => l.chain_id));
    const snapshots = this.graphDriver.list();
    // Children before parents so removal never hits a snapshot with dependents.
    const depth = (key: string): number => {
      let d = 0;
      for (let s = snapshots.find((x) => x.key === key); s?.parent; s = snapshots.find((x) => x.key === s!.parent)) d++;
      return d;
    };
    for (const s of [...snapshots].sort((a, b) => depth(b.key) - depth(a.key))) {
      if (known.has(s.key) || isContainerSnapshot(s.key)) continue;
      try {
        await this.graphDriver.remove(s.key);
        log.info("removed orphaned snapshot", { key: s.key });
      } catch (err) {
        if (!(err instanceof GraphDriverError && err.kind === "has-dependents")) throw err;
      }
    }
    for (const chainId of known) if (!this.graphDriver.exists(chainId)) log.error("layer snapshot missing from the graph driver", { chainId });
    // Blobs of a pull, load or commit that died before its image was recorded, and of images removed meanwhile.
    const referenced = this.graph.referencedDigests();
    for (const digest of this.content.list()) {
      if (referenced.has(digest)) continue;
      this.content.delete(digest);
      log.info("removed unreferenced blob", { digest });
    }
    for (const name of readdirSync(this.ctx.dataRoot.tmp)) rmSync(`${this.ctx.dataRoot.tmp}/${name}`, { recursive: true, force: true });
  }

  resolve(nameOrId: string): ImageRecord {
    return this.graph.resolve(nameOrId);
  }

  displayName(image: ImageRecord): string {
    return displayNameOf(image);
  }

  credentialsFrom(header: string | null | undefined): RegistryCredentials | undefined {
    return decodeRegistryAuthHeader(header);
  }

  pull(args: PullArgs, progress: ProgressWriter, signal: AbortSignal): Promise<PullResult> {
    return this.puller.pull(args, progress, signal);
  }

  push(args: PushArgs, progress: ProgressWriter, signal: AbortSignal): Promise<PushedTag[]> {
    return this.pusher.push(args, progress, signal);
  }

  /** docker save: checks every name and layer now (HTTP errors), then streams the archive. */
  save(names: readonly string[]): ReadableStream<Uint8Array> {
    const deps = { graph: this.graph, content: this.content };
    return saveArchive(deps, planSave(deps, names));
  }

  load(body: AsyncIterable<Uint8Array>, args: LoadArgs, progress: ProgressWriter, signal: AbortSignal): Promise<{ id: string; names: string[] }[]> {
    return loadArchive(this.store, body, args, progress, signal);
  }

  importImage(args: ImportArgs, body: AsyncIterable<Uint8Array>, progress: ProgressWriter, signal: AbortSignal): Promise<ImageRecord> {
    return importImage(this.store, args, body, progress, signal);
  }

  /**
   * A new image from a parent image, an optional layer tar and a config (docker commit; import uses it too).
   * `config.rootfs` is computed; `changes` style edits are `applyChanges` from ./changes.
   */
  createImage(spec: NewImage): Promise<ImageRecord> {
    return createImage(this.store, spec);
  }

  search(args: Omit<SearchArgs, "insecureRegistries">): Promise<SearchResult[]> {
    return searchImages(this.registry, { ...args, insecureRegistries: this.ctx.config.insecureRegistries });
  }

  login(body: unknown): Promise<{ Status: string; IdentityToken: string }> {
    return login(this.registry, body, this.ctx.config.insecureRegistries);
  }

  distribution(name: string, credentials: RegistryCredentials | undefined, signal?: AbortSignal): Promise<DistributionInspect> {
    return distributionInspect(this.registry, name, credentials, signal);
  }

  tag(source: string, repo: string, tag?: string): void {
    const image = this.resolve(source);
    const ref = parseReference(tag ? `${repo}:${tag}` : repo);
    this.graph.tag(image.id, ref);
    this.ctx.engine.events.publish("image", "tag", image.id, { name: familiarString(ref) });
  }

  /** docker rmi: untag a reference; delete the image when no reference is left (or by ID/force). */
  async remove(name: string, force: boolean, noprune: boolean): Promise<DeleteResponseItem[]> {
    const found = this.graph.find(name);
    if (!found) throw new NotFoundError(`No such image: ${name}`);
    const { image, refName } = found;
    const out: DeleteResponseItem[] = [];
    const refs = this.graph.refsOf(image.id);
    const tags = refs.filter((r) => r.kind === "tag");
    const user = this.usage(image.id);

    if (refName && (tags.length > 1 || (refs.length > 1 && !refs.every((r) => r.name === refName || r.kind === "digest")))) {
      // More names point here: only this name goes.
      this.graph.untag(refName);
      out.push({ Untagged: familiarString(parseReference(refName)) });
      this.ctx.engine.events.publish("image", "untag", image.id, { name: familiarString(parseReference(refName)) });
      return out;
    }
    if (user && (!force || user.running)) {
      const short = image.id.replace("sha256:", "").slice(0, 12);
      throw new ConflictError(
        user.running
          ? `conflict: unable to ${refName ? `remove repository reference "${name}"` : `delete ${short}`} (cannot be forced) - image is being used by running container ${user.containerId.slice(0, 12)}`
          : `conflict: unable to ${refName ? `remove repository reference "${name}"` : `delete ${short}`} (must be forced) - image is being used by stopped container ${user.containerId.slice(0, 12)}`,
      );
    }
    if (!refName && tags.length > 1 && !force) {
      throw new ConflictError(`conflict: unable to delete ${image.id.replace("sha256:", "").slice(0, 12)} (must be forced) - image is referenced in multiple repositories`);
    }
    for (const r of refs) {
      this.graph.untag(r.name);
      out.push({ Untagged: familiarString(parseReference(r.name)) });
    }
    if (user) return out; // forced removal of names only; the container keeps the image
    const blobs = [...this.graph.manifestsOf(image.id).map((m) => m.manifest_digest), ...image.layers.flatMap((chainId) => this.graph.layer(chainId)?.blob_digest ?? [])];
    const orphanLayers = this.graph.deleteImage(image.id);
    out.push({ Deleted: image.id });
    this.content.delete(image.id);
    const referenced = this.graph.referencedDigests();
    for (const digest of blobs) if (!referenced.has(digest)) this.content.delete(digest);
    if (!noprune) {
      for (const chainId of orphanLayers) {
        const row = chainId;
        try {
          await this.graphDriver.remove(row);
        } catch (err) {
          log.warn("could not remove layer snapshot", { chainId, error: (err as Error).message });
        }
      }
    }
    this.ctx.engine.events.publish("image", "delete", image.id, { name });
    return out;
  }

  /**
   * Remove unused images (only untagged ones when `danglingOnly`). An image with children (a commit or build step
   * made from it) stays while they do; once they are removed it is looked at again. SpaceReclaimed counts the
   * layers that went.
   */
  async prune(danglingOnly: boolean): Promise<{ ImagesDeleted: DeleteResponseItem[]; SpaceReclaimed: number }> {
    const deleted: DeleteResponseItem[] = [];
    const layerBytes = () => this.graph.allLayers().reduce((n, l) => n + l.size, 0);
    const before = layerBytes();
    const tried = new Set<string>();
    for (let progress = true; progress; ) {
      progress = false;
      for (const image of this.graph.list()) {
        const dangling = image.repoTags.length === 0;
        if (tried.has(image.id) || (danglingOnly && !dangling) || this.usage(image.id) || this.graph.children(image.id).length > 0) continue;
        tried.add(image.id);
        const items = await this.remove(image.id, true, false).catch((err: unknown) => {
          log.debug("image prune kept an image", { image: image.id, reason: String(err) });
          return [];
        });
        if (items.some((i) => "Deleted" in i)) progress = true;
        deleted.push(...items);
      }
    }
    if (deleted.length > 0) this.ctx.engine.events.publish("image", "prune", "", { reclaimed: String(Math.max(0, before - layerBytes())) });
    return { ImagesDeleted: deleted, SpaceReclaimed: Math.max(0, before - layerBytes()) };
  }

  /**
   * `system df`'s images: each with the bytes it shares with other images (layers more than one image uses) and
   * the number of containers using it.
   */
  diskUsage(): Record<string, unknown>[] {
    const images = this.graph.list();
    const users = new Map<string, number>();
    for (const image of images) for (const chainId of new Set(image.layers)) users.set(chainId, (users.get(chainId) ?? 0) + 1);
    return images.map((image) => {
      const shared = [...new Set(image.layers)].reduce((n, chainId) => n + ((users.get(chainId) ?? 0) > 1 ? (this.graph.layer(chainId)?.size ?? 0) : 0), 0);
      return { ...this.summary(image), SharedSize: shared, Containers: this.containerCount(image.id) };
    });
  }

  /** docker images / inspect shapes. */
  summary(image: ImageRecord): Record<string, unknown> {
    return {
      Id: image.id,
      ParentId: image.parent,
      RepoTags: image.repoTags,
      RepoDigests: image.repoDigests,
      Created: Math.floor(Date.parse(image.created) / 1000) || 0,
      Size: image.size,
      SharedSize: -1,
      VirtualSize: image.size,
      Labels: image.config.config?.Labels ?? {},
      Containers: -1,
    };
  }

  inspect(image: ImageRecord): Record<string, unknown> {
    const c = image.config;
    return {
      Id: image.id,
      RepoTags: image.repoTags,
      RepoDigests: image.repoDigests,
      Parent: image.parent,
      Comment: c.comment ?? "",
      Created: image.created,
      DockerVersion: c.docker_version ?? "",
      Author: c.author ?? "",
      Config: c.config ?? {},
      Architecture: c.architecture,
      Variant: c.variant,
      Os: c.os,
      Size: image.size,
      VirtualSize: image.size,
      GraphDriver: { Name: this.graphDriver.name === "overlay" ? "overlay2" : this.graphDriver.name, Data: null },
      RootFS: { Type: "layers", Layers: c.rootfs.diff_ids },
      Metadata: { LastTagTime: "0001-01-01T00:00:00Z" },
    };
  }

  history(image: ImageRecord): Record<string, unknown>[] {
    const history = image.config.history ?? [];
    const out: Record<string, unknown>[] = [];
    let layer = 0;
    const sizes = image.layers.map((chainId) => this.graph.layer(chainId)?.size ?? 0);
    for (const h of history) {
      const size = h.empty_layer ? 0 : (sizes[layer++] ?? 0);
      out.push({ Id: "<missing>", Created: Math.floor(Date.parse(h.created ?? "") / 1000) || 0, CreatedBy: h.created_by ?? "", Tags: null, Size: size, Comment: h.comment ?? "" });
    }
    out.reverse();
    if (out[0]) {
      out[0].Id = image.id;
      out[0].Tags = image.repoTags;
    }
    return out;
  }

  formatName(ref: string): string {
    return formatReference(parseReference(ref));
  }
}
