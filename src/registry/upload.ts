/**
 * Blob upload sessions: POST to open one, then either a single PUT with the whole body (monolithic) or PATCHes of
 * fixed-size chunks followed by a closing PUT (streams, hashed on the way). A failed session is cancelled.
 */
import { InvalidParameterError } from "../errors.ts";
import { repositoryScope } from "./auth.ts";
import { DigestHasher, digestOf, parseDigest } from "./digest.ts";
import type { RegistryEndpoint } from "./endpoint.ts";
import type { Repository } from "./reference.ts";
import { errorFromResponse } from "./response-errors.ts";
import { type RegistryRequest, type RegistryTransport, describeRequest, endpointUrl } from "./transport.ts";
import type { Digest } from "./types.ts";

export interface UploadOptions {
  digest?: Digest;
  credentials?: RegistryRequest["credentials"];
  signal?: AbortSignal;
  chunkSize: number;
}

class UploadSession {
  private location: string;

  constructor(
    private readonly transport: RegistryTransport,
    private readonly endpoint: RegistryEndpoint,
    private readonly repo: Repository,
    private readonly options: UploadOptions,
    location: string,
  ) {
    this.location = location;
  }

  static async open(
    transport: RegistryTransport,
    endpoint: RegistryEndpoint,
    repo: Repository,
    options: UploadOptions,
  ): Promise<UploadSession> {
    const path = `/v2/${repo.path}/blobs/uploads/`;
    const response = await transport.request(endpoint, { method: "POST", path, ...UploadSession.common(repo, options) });
    const location = response.headers.get("location");
    if (response.status !== 202 || !location) {
      throw await errorFromResponse(response, { request: describeRequest("POST", endpointUrl(endpoint, path)) });
    }
    await response.body?.cancel();
    return new UploadSession(transport, endpoint, repo, options, endpointUrl(endpoint, location));
  }

  private static common(repo: Repository, options: UploadOptions) {
    return {
      scopes: [repositoryScope(repo.path, ["pull", "push"])],
      credentials: options.credentials,
      signal: options.signal,
    };
  }

  async patch(chunk: Uint8Array, offset: number): Promise<void> {
    const response = await this.transport.request(this.endpoint, {
      method: "PATCH",
      path: this.location,
      headers: {
        "Content-Type": "application/octet-stream",
        "Content-Range": `${offset}-${offset + chunk.byteLength - 1}`,
      },
      body: chunk,
      ...UploadSession.common(this.repo, this.options),
    });
    if (response.status !== 202) {
      throw await errorFromResponse(response, { request: describeRequest("PATCH", this.location) });
    }
    await response.body?.cancel();
    this.location = endpointUrl(this.endpoint, response.headers.get("location") ?? this.location);
  }

  /** Closes the session with the digest, sending the last (or only) part of the body. */
  async finish(digest: Digest, body: Uint8Array | Blob): Promise<void> {
    const url = new URL(this.location);
    url.searchParams.set("digest", digest);
    const response = await this.transport.request(this.endpoint, {
      method: "PUT",
      path: url.toString(),
      headers: { "Content-Type": "application/octet-stream" },
      body,
      ...UploadSession.common(this.repo, this.options),
    });
    if (response.status !== 201) {
      throw await errorFromResponse(response, { request: describeRequest("PUT", url.toString()) });
    }
    await response.body?.cancel();
  }

  /** Best effort: the registry purges abandoned sessions eventually anyway. */
  async cancel(): Promise<void> {
    try {
      const response = await this.transport.request(this.endpoint, {
        method: "DELETE",
        path: this.location,
        ...UploadSession.common(this.repo, { ...this.options, signal: undefined }),
      });
      await response.body?.cancel();
    } catch {
      // the upload already failed; that error is the one to report
    }
  }
}

/** Splits a stream into chunks of exactly `size` bytes (the last one shorter), copying as little as possible. */
async function* rechunk(stream: ReadableStream<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let parts: Uint8Array[] = [];
  let buffered = 0;
  for await (const piece of stream) {
    let rest = piece;
    while (buffered + rest.byteLength >= size) {
      const take = size - buffered;
      parts.push(rest.subarray(0, take));
      yield Buffer.concat(parts);
      rest = rest.subarray(take);
      parts = [];
      buffered = 0;
    }
    if (rest.byteLength > 0) {
      // Copy: the producer may reuse its buffer once we return control.
      parts.push(rest.slice());
      buffered += rest.byteLength;
    }
  }
  if (buffered > 0) yield Buffer.concat(parts);
}

function checkExpected(expected: Digest | undefined, actual: Digest): void {
  if (expected !== undefined && expected !== actual) {
    throw new InvalidParameterError(`blob digest mismatch: expected ${expected}, content hashes to ${actual}`);
  }
}

export async function uploadBlob(
  transport: RegistryTransport,
  endpoint: RegistryEndpoint,
  repo: Repository,
  data: Uint8Array | Blob | ReadableStream<Uint8Array>,
  options: UploadOptions,
): Promise<{ digest: Digest; size: number }> {
  if (options.digest !== undefined) parseDigest(options.digest);
  if (options.chunkSize <= 0) throw new InvalidParameterError("upload chunk size must be positive");
  const session = await UploadSession.open(transport, endpoint, repo, options);
  try {
    if (data instanceof Uint8Array) {
      const digest = digestOf(data, options.digest ? parseDigest(options.digest).algorithm : "sha256");
      checkExpected(options.digest, digest);
      await session.finish(digest, data);
      return { digest, size: data.byteLength };
    }
    if (data instanceof Blob && options.digest !== undefined) {
      // The registry hashes what it receives and refuses a mismatch (DIGEST_INVALID).
      await session.finish(options.digest, data);
      return { digest: options.digest, size: data.size };
    }
    const stream = data instanceof Blob ? data.stream() : data;
    const hasher = options.digest ? DigestHasher.for(options.digest) : new DigestHasher();
    let size = 0;
    for await (const chunk of rechunk(stream, options.chunkSize)) {
      hasher.update(chunk);
      await session.patch(chunk, size);
      size += chunk.byteLength;
    }
    const digest = hasher.digest();
    checkExpected(options.digest, digest);
    await session.finish(digest, new Uint8Array(0));
    return { digest, size };
  } catch (err) {
    await session.cancel();
    throw err;
  }
}
