/**
 * Image format types: the OCI image-spec (v1.1) plus the Docker image manifest v2 schema 2 and the Docker image
 * config (which is the OCI config with a few extra fields). Other modules (image store, build, save/load, push)
 * import these, so they follow the specs field for field, JSON names included.
 */

/** Media types of manifests, indexes, configs and layers, OCI and Docker flavours. */
export const MediaType = {
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayout: "application/vnd.oci.layout.header.v1+json",
  OciDescriptor: "application/vnd.oci.descriptor.v1+json",
  /** The empty JSON object `{}`, used as config of artifacts. */
  OciEmpty: "application/vnd.oci.empty.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",

  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  /** Layers that must be fetched from `urls` (Windows base layers); never pushed. */
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerPluginConfig: "application/vnd.docker.plugin.v1+json",
  /** Schema 1: recognised only to refuse it with a clear message. */
  DockerSchema1Manifest: "application/vnd.docker.distribution.manifest.v1+json",
  DockerSchema1SignedManifest: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/** Media types of a single-platform image manifest. */
export const IMAGE_MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
/** Media types of a multi-platform index / manifest list. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
/** Layer media types whose blob is a gzip-compressed tar. */
export const GZIP_LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.OciLayerGzip,
  MediaType.OciLayerNonDistributableGzip,
  MediaType.DockerLayerGzip,
  MediaType.DockerForeignLayerGzip,
];

/** Well-known annotation keys. */
export const Annotation = {
  RefName: "org.opencontainers.image.ref.name",
  Created: "org.opencontainers.image.created",
  BaseName: "org.opencontainers.image.base.name",
  BaseDigest: "org.opencontainers.image.base.digest",
  /** buildkit marks attestation manifests in an index with this (value "attestation-manifest"). */
  DockerReferenceType: "vnd.docker.reference.type",
  DockerReferenceDigest: "vnd.docker.reference.digest",
} as const;

/** A content digest, `algorithm:hex` (e.g. `sha256:9f86d0…`). */
export type Digest = string;

/** OCI platform (image-index entry `platform`, and the platform fields of an image config). */
export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  /** Reserved by the spec. */
  features?: string[];
}

/** OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** Base64 of the embedded content. */
  data?: string;
  /** Only meaningful in an index's `manifests`. */
  platform?: Platform;
  artifactType?: string;
}

/** A single-platform image manifest: OCI image manifest or Docker schema 2 (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  /** Required for Docker schema 2, recommended for OCI. */
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A multi-platform index: OCI image index or Docker manifest list (same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** Healthcheck of a Docker image config (`HEALTHCHECK`); durations in nanoseconds. */
export interface HealthConfig {
  /** `[]` inherit, `["NONE"]` disabled, `["CMD", ...args]` or `["CMD-SHELL", command]`. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/**
 * The execution parameters in an image config (`config`). The OCI fields, plus the Docker ones that `docker build`
 * writes (Healthcheck, OnBuild, Shell, ...). Sets are JSON objects whose values are `{}`.
 */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  // Docker extensions
  Healthcheck?: HealthConfig;
  OnBuild?: string[] | null;
  Shell?: string[];
  StopTimeout?: number;
  Hostname?: string;
  Domainname?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Image?: string;
}

export interface RootFS {
  type: "layers";
  /** sha256 of each uncompressed layer tar, base layer first. */
  diff_ids: Digest[];
}

export interface History {
  /** RFC 3339. */
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  /** True when the step produced no layer (ENV, CMD, ...): such entries have no diff_id. */
  empty_layer?: boolean;
}

/** The image configuration blob (OCI `application/vnd.oci.image.config.v1+json`, Docker `...container.image.v1+json`). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: RootFS;
  history?: History[];
  // Docker extensions (present in images built by the classic builder)
  id?: string;
  parent?: string;
  comment?: string;
  container?: string;
  container_config?: ContainerConfig;
  docker_version?: string;
}
