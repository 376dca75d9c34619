/**
 * A container's files: `docker cp` (the archive endpoints), `docker diff`, `docker export` and `docker commit`.
 *
 * Copies reach the container's tree through its mounted root filesystem (a stopped container's snapshot is mounted
 * for the time of the copy) or, for a path under a bind or volume mount, through that mount's host directory, so
 * that `docker cp` into `/data` of a container with a volume there lands in the volume. Either way paths are
 * resolved inside that root by the kernel (src/archive): a symlink the container planted cannot lead outside it.
 */
import { statSync } from "node:fs";
import { posix } from "node:path";
import type { CgroupManager } from "../../drivers/exec/cgroups";
import { archivePath, extractArchive, statPath, type ContainerFs, type PathStat } from "../archive/copy";
import { exportTar } from "../archive/export";
import { ForbiddenError, InvalidParameterError, NotFoundError } from "../errors";
import { applyChanges } from "../images/changes";
import type { NewImage } from "../images/create";
import type { ImageLookup, ImageRecord } from "../images/types";
import { ChangeKind, changes, layerTar, type Change } from "../layers/diff";
import type { ContainerConfig as ImageContainerConfig } from "../registry/types";
import { BUNKER_VERSION } from "../version";
import { mountedLocation } from "./mounts";
import type { ContainerService, RootfsLease } from "./service";
import type { ContainerRecord } from "./types";

export interface ContainerFilesDeps {
  containers: ContainerService;
  images: ImageLookup & { createImage(spec: NewImage): Promise<ImageRecord> };
  cgroups: CgroupManager;
  volumePath(name: string): string;
}

/** `POST /commit`'s query and body. */
export interface CommitRequest {
  container: string;
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Freeze the container's processes while its RW layer is read (docker's default). */
  pause: boolean;
  /** Dockerfile instructions applied to the config (`--change`). */
  changes: string[];
  /** Fields that replace the container's own config in the image. */
  config: Partial<ImageContainerConfig> | null;
}

export interface ExtractOptions {
  noOverwriteDirNonDir: boolean;
  copyUIDGID: boolean;
}

/** Where a request path is: the root to resolve it in, the path inside that root, and whether it may be written. */
interface Target {
  fs: ContainerFs;
  path: string;
  readonly: boolean;
  /** The root filesystem is needed (mounted); false for a path inside a bind or volume mount. */
  needsRootfs: boolean;
}

export class ContainerFiles {
  constructor(private readonly deps: ContainerFilesDeps) {}

  /** `HEAD /containers/{id}/archive?path=`. */
  async stat(ref: string, path: string): Promise<PathStat> {
    checkPath(path);
    return this.withTarget(ref, path, async (target) => statPath(target.fs, target.path));
  }

  /** `GET /containers/{id}/archive?path=`: the stat, and the tar (which holds the tree until read or cancelled). */
  async archive(ref: string, path: string): Promise<{ stat: PathStat; tar: ReadableStream<Uint8Array> }> {
    checkPath(path);
    const { target, record, release } = await this.locate(ref, path);
    try {
      const archived = archivePath(target.fs, target.path);
      this.deps.containers.publish(record, "archive-path", { path });
      return { stat: archived.stat, tar: finallyStream(archived.tar, release) };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** `PUT /containers/{id}/archive?path=`: extract the tar into the directory `path`. */
  async extract(ref: string, path: string, tar: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<void> {
    checkPath(path);
    await this.withTarget(ref, path, async (target, c) => {
      if (target.readonly) throw new ForbiddenError(target.needsRootfs ? "container rootfs is marked read-only" : "mounted volume is marked read-only");
      await extractArchive(target.fs, target.path, tar, options);
      this.deps.containers.publish(c, "extract-to-dir", { path });
    });
  }

  /**
   * `GET /containers/{id}/changes`. The mount points the engine creates (/etc files, /dev, /proc, /sys) are left
   * out when they were only created as such (docker keeps those in an init layer below the container's).
   */
  async changes(ref: string): Promise<Change[]> {
    const c = this.deps.containers.get(ref);
    return withoutMountPoints(await changes(this.deps.images.graphDriver, c.id));
  }

  /** `GET /containers/{id}/export`: the flattened root filesystem (without the mounts), streamed. */
  async export(ref: string): Promise<ReadableStream<Uint8Array>> {
    const lease = await this.deps.containers.rootfsLease(ref);
    try {
      const tar = finallyStream(exportTar(lease.rootfs), lease.release);
      this.deps.containers.publish(lease.record, "export");
      return tar;
    } catch (err) {
      lease.release();
      throw err;
    }
  }

  /** `POST /commit`: a new image from the container's image and its RW layer. */
  async commit(request: CommitRequest): Promise<{ Id: string }> {
    if (request.tag && !request.repo) throw new InvalidParameterError("tag is specified without a repository");
    const reference = request.repo ? (request.tag ? `${request.repo}:${request.tag}` : request.repo) : undefined;
    return this.deps.containers.exclusive(request.container, async (c) => {
      let parent: ImageRecord;
      try {
        parent = this.deps.images.resolve(c.imageId);
      } catch (err) {
        if (err instanceof NotFoundError) throw new NotFoundError(`the image of container ${c.id} is gone: ${c.imageId}`);
        throw err;
      }
      const config = applyChanges(commitConfig(c, request.config), request.changes);
      const created = new Date().toISOString();
      const freeze = request.pause && this.deps.containers.activeRun(c.id) !== undefined && !this.deps.cgroups.frozen(c.id);
      if (freeze) await this.deps.cgroups.freeze(c.id);
      let image: ImageRecord;
      try {
        image = await this.deps.images.createImage({
          parent,
          layer: layerTar(this.deps.images.graphDriver, c.id),
          config: {
            created,
            architecture: parent.config.architecture,
            os: parent.config.os,
            ...(parent.config.variant ? { variant: parent.config.variant } : {}),
            ...(request.author ? { author: request.author } : {}),
            ...(request.comment ? { comment: request.comment } : {}),
            config,
            container: c.id,
            container_config: commitConfig(c, null),
            docker_version: BUNKER_VERSION,
            parent: parent.id,
            history: [
              ...(parent.config.history ?? []),
              { created, created_by: [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])].join(" "), ...(request.author ? { author: request.author } : {}), ...(request.comment ? { comment: request.comment } : {}) },
            ],
          },
          ...(reference ? { reference } : {}),
        });
      } finally {
        if (freeze) await this.deps.cgroups.thaw(c.id);
      }
      this.deps.containers.publish(c, "commit", { comment: request.comment ?? "", imageID: image.id, imageRef: reference ?? "" });
      return { Id: image.id };
    });
  }

  /** Resolve `path` and run `fn` with the root filesystem held when the path needs it. */
  private async withTarget<T>(ref: string, path: string, fn: (target: Target, c: ContainerRecord) => Promise<T>): Promise<T> {
    const { target, record, release } = await this.locate(ref, path);
    try {
      return await fn(target, record);
    } finally {
      release();
    }
  }

  private async locate(ref: string, path: string): Promise<{ target: Target; record: ContainerRecord; release: () => void }> {
    const c = this.deps.containers.get(ref);
    // /etc/hostname, hosts and resolv.conf are the container directory's files, bind-mounted in the container.
    const clean = posix.join("/", path);
    if (ETC_MOUNT_POINTS.includes(clean)) {
      return {
        target: { fs: { root: this.deps.containers.containerDir(c.id), container: ref, base: "/etc" }, path: `/${posix.basename(clean)}`, readonly: c.hostConfig.ReadonlyRootfs, needsRootfs: false },
        record: c,
        release: () => {},
      };
    }
    const mounted = mountedLocation(c.mounts, path, this.deps.volumePath);
    if (mounted && isDirectory(mounted.root)) {
      return {
        target: { fs: { root: mounted.root, container: ref, base: mounted.target }, path: mounted.path, readonly: mounted.readonly, needsRootfs: false },
        record: c,
        release: () => {},
      };
    }
    const lease: RootfsLease = await this.deps.containers.rootfsLease(c.id);
    return {
      target: { fs: { root: lease.rootfs, container: ref }, path, readonly: lease.record.hostConfig.ReadonlyRootfs, needsRootfs: true },
      record: lease.record,
      release: lease.release,
    };
  }
}

/** The container's config as the committed image's, with the fields of `override` that are set winning. */
function commitConfig(c: ContainerRecord, override: Partial<ImageContainerConfig> | null): ImageContainerConfig {
  const own: ImageContainerConfig = { ...c.config, Volumes: c.config.Volumes ?? {} };
  if (!override) return own;
  const set = Object.entries(override).filter(([, value]) => value !== null && value !== undefined && value !== "" && !(Array.isArray(value) && value.length === 0));
  return { ...own, ...Object.fromEntries(set) };
}

const ETC_MOUNT_POINTS = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];
/** Created by the launcher when the image lacks them; /dev is a tmpfs and the others are the kernel's, so nothing of the container lands below them. */
const KERNEL_MOUNT_POINTS = ["/dev", "/proc", "/sys"];

function withoutMountPoints(list: Change[]): Change[] {
  const kept = list.filter((change) => !(change.Kind === ChangeKind.Added && (ETC_MOUNT_POINTS.includes(change.Path) || KERNEL_MOUNT_POINTS.includes(change.Path))));
  if (kept.length === list.length) return list;
  // /etc is listed as modified for its new entries (or added, when the image had none); with none left it is not a change.
  const etcHasChanges = kept.some((change) => change.Path.startsWith("/etc/"));
  return etcHasChanges ? kept : kept.filter((change) => !(change.Path === "/etc" && change.Kind !== ChangeKind.Deleted));
}

function checkPath(path: string): void {
  if (!path) throw new InvalidParameterError("Path cannot be empty");
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

/** `inner`, calling `done` once when it has been read to the end, failed, or been cancelled. */
function finallyStream(inner: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = inner.getReader();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          finish();
          controller.close();
        } else controller.enqueue(next.value);
      } catch (err) {
        finish();
        controller.error(err);
      }
    },
    async cancel(reason) {
      try {
        await reader.cancel(reason);
      } finally {
        finish();
      }
    },
  });
}
