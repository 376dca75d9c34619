/**
 * OCI Distribution client: manifests (with index platform selection), streamed and resumable blob downloads,
 * blob uploads, cross-repository mounts, manifest push, catalog and tags. Credentials are given per call.
 */
import { InvalidParameterError, NotFoundError, SystemError } from "../errors.ts";
import { Authenticator, type RegistryCredentials, repositoryScope } from "./auth.ts";
import { type OpenedBlob, openResumableBlob } from "./blob-stream.ts";
import { DigestHasher, digestOf, parseDigest } from "./digest.ts";
import { type EndpointOptions, type RegistryEndpoint, normalizeMirrorUrl, resolveEndpoints } from "./endpoint.ts";
import { isAbortError } from "./http.ts";
import { ACCEPTED_MANIFEST_TYPES, type ParsedManifest, parseManifest } from "./manifest.ts";
import { formatPlatform, hostPlatform, selectPlatformManifest } from "./platform.ts";
import {
  type Reference,
  type Repository,
  familiarName,
  familiarString,
  manifestReference,
  repositoryName,
  toReference,
  toRepository,
} from "./reference.ts";
import { errorFromResponse } from "./response-errors.ts";
import { RegistryTransport, describeRequest, endpointUrl } from "./transport.ts";
import type { Descriptor, Digest, ImageIndex, ImageManifest, Platform } from "./types.ts";
import { uploadBlob } from "./upload.ts";

export interface RegistryClientOptions extends EndpointOptions {
  userAgent?: string;
  /** Total restarts allowed per blob download (resumed with Range). Default 5. */
  blobRetries?: number;
  /** Delay before the n-th restart is n × this. Default 500 ms. */
  retryDelayMs?: number;
  /** A download that receives nothing for this long is restarted. Default 60 s. */
  stallTimeoutMs?: number;
  /** PATCH size of streamed uploads. Default 16 MiB. */
  uploadChunkSize?: number;
}

export interface RequestOptions {
  credentials?: RegistryCredentials;
  signal?: AbortSignal;
}

export interface GetManifestOptions extends RequestOptions {
  /** Which entry of an index to take. Default: this host's platform. */
  platform?: Platform;
}

/** What a reference points at, unresolved: a single manifest or an index. */
export interface FetchedManifest {
  digest: Digest;
  mediaType: string;
  raw: Uint8Array;
  parsed: ParsedManifest;
}

/** A reference resolved to one platform's image manifest. */
export interface ResolvedManifest {
  reference: Reference;
  /** Digest of the image manifest (the platform-specific one when the reference named an index). */
  digest: Digest;
  mediaType: string;
  manifest: ImageManifest;
  raw: Uint8Array;
  /** Set when the reference named an index: its digest (docker's RepoDigest) and the entry that was chosen. */
  index?: { digest: Digest; mediaType: string; index: ImageIndex; raw: Uint8Array; descriptor: Descriptor };
}

export interface FetchBlobOptions extends RequestOptions {
  /** Start at this byte (no digest verification then). */
  offset?: number;
  /** The size from the descriptor; lets a short body be detected even without Content-Length. */
  size?: number;
  /** Hash the bytes and error the stream on mismatch. Default true (only when offset is 0). */
  verify?: boolean;
}

export interface UploadBlobOptions extends RequestOptions {
  /** Expected digest: required for a Blob uploaded in one request; checked against the data otherwise. */
  digest?: Digest;
}

export interface PutManifestOptions extends RequestOptions {
  /** Content-Type to send; default: the document's own `mediaType`. */
  mediaType?: string;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_USER_AGENT = `bunker/0.1.0 bun/${Bun.version}`;

/** Bytes of a response body, refusing more than `limit` (a manifest is never large; a hostile one could be). */
async function readLimited(response: Response, limit: number, what: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await response.body?.cancel();
    throw new SystemError(`${what} is too large: ${declared} bytes (limit ${limit})`);
  }
  if (!response.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > limit) throw new SystemError(`${what} is too large: over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Only what a request carries of the caller's options (not platform, page size, ...). */
function requestAuth(options: RequestOptions): RequestOptions {
  return { credentials: options.credentials, signal: options.signal };
}

/** Next page path from a `Link: </v2/_catalog?last=x&n=100>; rel="next"` header. */
function nextLink(response: Response): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(response.headers.get("link") ?? "");
  return match?.[1];
}

function stringArrayField(body: unknown, field: string, what: string): string[] {
  const value: unknown = typeof body === "object" && body !== null ? (body as Record<string, unknown>)[field] : undefined;
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new SystemError(`invalid ${what} response: ${field} must be an array of strings`);
  }
  return value;
}

export class RegistryClient {
  private readonly authenticator: Authenticator;
  private readonly transport: RegistryTransport;
  private readonly endpointOptions: EndpointOptions;
  private readonly blobRetries: number;
  private readonly retryDelayMs: number;
  private readonly stallTimeoutMs: number;
  private readonly uploadChunkSize: number;

  constructor(options: RegistryClientOptions = {}) {
    const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.authenticator = new Authenticator({ userAgent });
    this.transport = new RegistryTransport(this.authenticator, userAgent);
    this.endpointOptions = {
      insecureRegistries: options.insecureRegistries ?? [],
      mirrors: (options.mirrors ?? []).map(normalizeMirrorUrl),
    };
    this.blobRetries = options.blobRetries ?? 5;
    this.retryDelayMs = options.retryDelayMs ?? 500;
    this.stallTimeoutMs = options.stallTimeoutMs ?? 60_000;
    this.uploadChunkSize = options.uploadChunkSize ?? 16 * 1024 * 1024;
  }

  /**
   * Resolves a reference to one image manifest. An index is narrowed to `platform` (default: this host's);
   * no matching entry is a NotFoundError worded like docker's.
   */
  async getManifest(reference: Reference | string, options: GetManifestOptions = {}): Promise<ResolvedManifest> {
    const ref = toReference(reference);
    const platform = options.platform ?? hostPlatform();
    return this.onEndpoints(ref.domain, "pull", async (endpoint) => {
      const top = await this.fetchManifestFrom(endpoint, ref, options);
      if (top.parsed.kind === "manifest") {
        return { reference: ref, digest: top.digest, mediaType: top.mediaType, manifest: top.parsed.manifest, raw: top.raw };
      }
      const descriptor = selectPlatformManifest(top.parsed.index.manifests, platform);
      if (!descriptor) {
        throw new NotFoundError(`no matching manifest for ${formatPlatform(platform)} in the manifest list entries`);
      }
      const child = await this.fetchManifestFrom(endpoint, { ...ref, digest: descriptor.digest }, options);
      if (child.parsed.kind !== "manifest") {
        throw new SystemError(`index entry ${descriptor.digest} of ${familiarString(ref)} is not an image manifest`);
      }
      return {
        reference: ref,
        digest: child.digest,
        mediaType: child.mediaType,
        manifest: child.parsed.manifest,
        raw: child.raw,
        index: { digest: top.digest, mediaType: top.mediaType, index: top.parsed.index, raw: top.raw, descriptor },
      };
    });
  }

  /** Fetches what a reference points at without resolving an index (`docker manifest inspect`, push of an index). */
  async fetchManifest(reference: Reference | string, options: RequestOptions = {}): Promise<FetchedManifest> {
    const ref = toReference(reference);
    return this.onEndpoints(ref.domain, "pull", (endpoint) => this.fetchManifestFrom(endpoint, ref, options));
  }

  /** Digest, media type and size of what a reference points at, with a HEAD request (no body transferred). */
  async headManifest(reference: Reference | string, options: RequestOptions = {}): Promise<Descriptor> {
    const ref = toReference(reference);
    return this.onEndpoints(ref.domain, "pull", async (endpoint) => {
      const path = `/v2/${ref.path}/manifests/${manifestReference(ref)}`;
      const response = await this.transport.request(endpoint, {
        method: "HEAD",
        path,
        headers: { Accept: ACCEPTED_MANIFEST_TYPES.join(", ") },
        scopes: [repositoryScope(ref.path, ["pull"])],
        ...requestAuth(options),
      });
      if (!response.ok) throw await this.manifestError(response, endpoint, path, ref, "HEAD");
      const digest = response.headers.get("docker-content-digest");
      const mediaType = response.headers.get("content-type")?.split(";")[0]?.trim();
      const size = Number(response.headers.get("content-length") ?? Number.NaN);
      if (digest && mediaType && Number.isSafeInteger(size) && (!ref.digest || digest === ref.digest)) {
        return { mediaType, digest, size };
      }
      // Some registries omit the digest on HEAD: fall back to GET and hash the bytes.
      const fetched = await this.fetchManifestFrom(endpoint, ref, options);
      return { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.raw.byteLength };
    });
  }

  /**
   * Streams a blob. The stream resumes with a Range request when the connection drops (up to `blobRetries` times in
   * all) and, from offset 0, errors if the bytes do not hash to `digest`. Nothing is buffered beyond one chunk.
   */
  async fetchBlob(repository: Repository | string, digest: Digest, options: FetchBlobOptions = {}): Promise<OpenedBlob> {
    const repo = toRepository(repository);
    parseDigest(digest);
    const name = repositoryName(repo);
    const start = options.offset ?? 0;
    return this.onEndpoints(repo.domain, "pull", (endpoint) =>
      openResumableBlob({
        start,
        size: options.size,
        maxRetries: this.blobRetries,
        retryFirstRequest: !endpoint.mirror,
        retryDelayMs: this.retryDelayMs,
        stallTimeoutMs: this.stallTimeoutMs,
        verifyDigest: options.verify === false ? undefined : digest,
        description: `blob ${digest} of ${familiarName(repo)}`,
        signal: options.signal,
        open: async (offset, attemptSignal) => {
          const path = `/v2/${repo.path}/blobs/${digest}`;
          const response = await this.transport.request(endpoint, {
            method: "GET",
            path,
            headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
            scopes: [repositoryScope(repo.path, ["pull"])],
            credentials: options.credentials,
            signal: options.signal ? AbortSignal.any([options.signal, attemptSignal]) : attemptSignal,
          });
          if (response.status === 200 || response.status === 206) return response;
          throw await errorFromResponse(response, {
            request: describeRequest("GET", endpointUrl(endpoint, path)),
            notFoundPrefix: `blob ${digest} not found in ${name}: `,
          });
        },
      }),
    );
  }

  /** True when the repository has the blob (HEAD). */
  async blobExists(repository: Repository | string, digest: Digest, options: RequestOptions = {}): Promise<boolean> {
    const repo = toRepository(repository);
    parseDigest(digest);
    return this.onEndpoints(repo.domain, "push", async (endpoint) => {
      const path = `/v2/${repo.path}/blobs/${digest}`;
      const response = await this.transport.request(endpoint, {
        method: "HEAD",
        path,
        scopes: [repositoryScope(repo.path, ["pull"])],
        ...requestAuth(options),
      });
      if (response.ok) return true;
      if (response.status === 404) return false;
      throw await errorFromResponse(response, { request: describeRequest("HEAD", endpointUrl(endpoint, path)) });
    });
  }

  /**
   * Uploads a blob: bytes, or a Blob with a known digest, in one POST+PUT; a stream (or a Blob without digest) in
   * PATCH chunks while hashing it. Returns the digest and size the registry accepted.
   */
  async uploadBlob(
    repository: Repository | string,
    data: Uint8Array | Blob | ReadableStream<Uint8Array>,
    options: UploadBlobOptions = {},
  ): Promise<{ digest: Digest; size: number }> {
    const repo = toRepository(repository);
    const [endpoint] = resolveEndpoints(repo.domain, "push", this.endpointOptions);
    if (!endpoint) throw new SystemError(`no endpoint for ${repo.domain}`);
    return uploadBlob(this.transport, endpoint, repo, data, { ...requestAuth(options), digest: options.digest, chunkSize: this.uploadChunkSize });
  }

  /**
   * Asks the registry to link a blob from another repository of the same registry into `repository` without
   * transferring it. Returns false when it cannot (other registry, or the registry declined).
   */
  async mountBlob(
    repository: Repository | string,
    from: Repository | string,
    digest: Digest,
    options: RequestOptions = {},
  ): Promise<boolean> {
    const repo = toRepository(repository);
    const source = toRepository(from);
    parseDigest(digest);
    if (source.domain !== repo.domain) return false;
    const [endpoint] = resolveEndpoints(repo.domain, "push", this.endpointOptions);
    if (!endpoint) return false;
    const query = new URLSearchParams({ mount: digest, from: source.path });
    const path = `/v2/${repo.path}/blobs/uploads/?${query}`;
    const response = await this.transport.request(endpoint, {
      method: "POST",
      path,
      scopes: [repositoryScope(repo.path, ["pull", "push"]), repositoryScope(source.path, ["pull"])],
      ...requestAuth(options),
    });
    if (response.status === 201) return true;
    if (response.status === 202) {
      // The registry opened an ordinary upload instead; cancel it so it does not linger.
      const location = response.headers.get("location");
      if (location) {
        const cancel = { method: "DELETE", path: location, scopes: [repositoryScope(repo.path, ["pull", "push"])] } as const;
        await this.transport
          .request(endpoint, { ...cancel, ...requestAuth(options) })
          .then((r) => r.body?.cancel())
          .catch(() => undefined);
      }
      return false;
    }
    throw await errorFromResponse(response, { request: describeRequest("POST", endpointUrl(endpoint, path)) });
  }

  /**
   * Pushes a manifest or index under the reference's tag (or digest). Raw bytes are sent as they are, objects as
   * compact JSON. Returns the digest, checked against what the registry reports.
   */
  async putManifest(
    reference: Reference | string,
    manifest: Uint8Array | ImageManifest | ImageIndex,
    options: PutManifestOptions = {},
  ): Promise<Digest> {
    const ref = toReference(reference);
    const raw = manifest instanceof Uint8Array ? manifest : new TextEncoder().encode(JSON.stringify(manifest));
    const mediaType = options.mediaType ?? parseManifest(raw, null, familiarString(ref)).mediaType;
    const digest = digestOf(raw, ref.digest ? parseDigest(ref.digest).algorithm : "sha256");
    if (ref.digest && ref.digest !== digest) {
      throw new InvalidParameterError(`manifest digest ${digest} does not match reference digest ${ref.digest}`);
    }
    const [endpoint] = resolveEndpoints(ref.domain, "push", this.endpointOptions);
    if (!endpoint) throw new SystemError(`no endpoint for ${ref.domain}`);
    const path = `/v2/${ref.path}/manifests/${manifestReference(ref)}`;
    const response = await this.transport.request(endpoint, {
      method: "PUT",
      path,
      headers: { "Content-Type": mediaType },
      body: raw,
      scopes: [repositoryScope(ref.path, ["pull", "push"])],
      ...requestAuth(options),
    });
    if (response.status !== 201 && response.status !== 200) {
      throw await errorFromResponse(response, { request: describeRequest("PUT", endpointUrl(endpoint, path)) });
    }
    await response.body?.cancel();
    const reported = response.headers.get("docker-content-digest");
    if (reported && reported !== digest) {
      throw new SystemError(`registry stored manifest of ${familiarString(ref)} as ${reported}, expected ${digest}`);
    }
    return digest;
  }

  /** Every repository of a registry (`GET /v2/_catalog`, all pages). */
  async catalog(domain: string, options: RequestOptions & { pageSize?: number } = {}): Promise<string[]> {
    const first = `/v2/_catalog${options.pageSize ? `?n=${options.pageSize}` : ""}`;
    return this.collectPages(domain, first, "repositories", ["registry:catalog:*"], options);
  }

  /** Every tag of a repository (`GET /v2/<name>/tags/list`, all pages). */
  async tags(repository: Repository | string, options: RequestOptions & { pageSize?: number } = {}): Promise<string[]> {
    const repo = toRepository(repository);
    const first = `/v2/${repo.path}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ""}`;
    return this.collectPages(repo.domain, first, "tags", [repositoryScope(repo.path, ["pull"])], options);
  }

  /**
   * Checks credentials against a registry like `docker login`. Resolves with the refresh token a token server
   * issued (docker's IdentityToken), if any; throws UnauthorizedError when they are refused.
   */
  async login(domain: string, credentials: RegistryCredentials, options: { signal?: AbortSignal } = {}): Promise<{ identityToken?: string }> {
    const [endpoint] = resolveEndpoints(domain, "push", this.endpointOptions);
    if (!endpoint) throw new SystemError(`no endpoint for ${domain}`);
    const request = describeRequest("GET", endpointUrl(endpoint, "/v2/"));
    // Probe without credentials: an anonymous bearer token would otherwise make any password look right.
    const probe = await this.transport.request(endpoint, { method: "GET", path: "/v2/", scopes: [], anonymous: true, signal: options.signal });
    await probe.body?.cancel();
    if (probe.ok) return {};
    if (probe.status !== 401) throw await errorFromResponse(probe, { request });
    const result = await this.authenticator.login(new URL(endpoint.url).origin, probe, credentials);
    const check = await this.transport.request(endpoint, { method: "GET", path: "/v2/", scopes: [], credentials, signal: options.signal });
    if (!check.ok) throw await errorFromResponse(check, { request });
    await check.body?.cancel();
    return result;
  }

  private async fetchManifestFrom(endpoint: RegistryEndpoint, ref: Reference, options: RequestOptions): Promise<FetchedManifest> {
    const path = `/v2/${ref.path}/manifests/${manifestReference(ref)}`;
    const response = await this.transport.request(endpoint, {
      method: "GET",
      path,
      headers: { Accept: ACCEPTED_MANIFEST_TYPES.join(", ") },
      scopes: [repositoryScope(ref.path, ["pull"])],
      ...requestAuth(options),
    });
    if (!response.ok) throw await this.manifestError(response, endpoint, path, ref, "GET");
    const name = familiarString(ref);
    const raw = await readLimited(response, MAX_MANIFEST_BYTES, `manifest for ${name}`);
    const digest = ref.digest ? DigestHasher.for(ref.digest) : new DigestHasher();
    digest.update(raw);
    const actual = digest.digest();
    if (ref.digest && actual !== ref.digest) {
      throw new SystemError(`manifest verification failed for digest ${ref.digest}`);
    }
    const parsed = parseManifest(raw, response.headers.get("content-type"), name);
    return { digest: actual, mediaType: parsed.mediaType, raw, parsed };
  }

  private async manifestError(response: Response, endpoint: RegistryEndpoint, path: string, ref: Reference, method: string) {
    return errorFromResponse(response, {
      request: describeRequest(method, endpointUrl(endpoint, path)),
      notFoundPrefix: `manifest for ${familiarString(ref)} not found: `,
      deniedPrefix: `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': `,
    });
  }

  private async collectPages(
    domain: string,
    firstPath: string,
    field: string,
    scopes: readonly string[],
    options: RequestOptions,
  ): Promise<string[]> {
    return this.onEndpoints(domain, "push", async (endpoint) => {
      const items: string[] = [];
      let path: string | undefined = firstPath;
      while (path) {
        const response = await this.transport.request(endpoint, { method: "GET", path, scopes, ...requestAuth(options) });
        if (!response.ok) {
          throw await errorFromResponse(response, {
            request: describeRequest("GET", endpointUrl(endpoint, path)),
            notFoundPrefix: `${domain}${path.split("?")[0]} not found: `,
          });
        }
        items.push(...stringArrayField(await response.json(), field, path));
        path = nextLink(response);
      }
      return items;
    });
  }

  /**
   * Runs `operation` on each endpoint of the domain in turn. A mirror that fails (any error but the caller's abort)
   * hands over to the next endpoint; the last endpoint's error is the one reported.
   */
  private async onEndpoints<T>(
    domain: string,
    purpose: "pull" | "push",
    operation: (endpoint: RegistryEndpoint) => Promise<T>,
  ): Promise<T> {
    const endpoints = resolveEndpoints(domain, purpose, this.endpointOptions);
    for (const endpoint of endpoints.slice(0, -1)) {
      try {
        return await operation(endpoint);
      } catch (err) {
        if (isAbortError(err)) throw err;
      }
    }
    const last = endpoints.at(-1);
    if (!last) throw new SystemError(`no endpoint for ${domain}`);
    return operation(last);
  }
}
