/**
 * The registry client against a real registry (Debian's docker-registry 2.8): pull by tag and digest, index platform
 * selection, streamed blobs with digest checks, Basic and Bearer auth, resumable downloads through a proxy that drops
 * connections, corruption detection, uploads (monolithic and chunked), cross-repository mounts, catalog and tags.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { extract as tarExtract } from "tar-stream";
import { ForbiddenError, NotFoundError, SystemError, UnauthorizedError } from "../src/errors.ts";
import { RegistryClient } from "../src/registry/client.ts";
import { DigestHasher, digestOf } from "../src/registry/digest.ts";
import { parseImageConfig } from "../src/registry/manifest.ts";
import { MediaType } from "../src/registry/types.ts";
import { type RunningFlakyProxy, startFlakyProxy } from "./fixtures/flaky-proxy.ts";
import { type FixtureInfo, LAYERED_EXPECTED, PLATFORM_MARKER_PATH, blobPath, pushFixtures } from "./fixtures/images.ts";
import { type RunningRegistry, startRegistry } from "./fixtures/registry.ts";
import { type RunningTokenServer, startTokenServer } from "./fixtures/token-server.ts";

/**
 * Where nothing listens, ever: a port below 1024 that no service here uses (a port that was free a moment ago
 * may be taken meanwhile by a registry or a proxy of a test file running in parallel).
 */
const NOTHING_LISTENS = "127.0.0.1:1";

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface LayerEntry {
  type: string;
  content: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Entries of a gzipped layer tar, path (without trailing slash) → entry. */
async function layerEntries(gz: Uint8Array): Promise<Map<string, LayerEntry>> {
  const entries = new Map<string, LayerEntry>();
  const extract = tarExtract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(Buffer.from(chunk as Uint8Array)));
      stream.on("end", () => {
        entries.set(header.name.replace(/\/$/, ""), {
          type: header.type,
          content: Buffer.concat(chunks).toString(),
          linkname: header.linkname ?? "",
          mode: header.mode,
          uid: header.uid,
          gid: header.gid,
        });
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(gunzipSync(gz));
  await done;
  return entries;
}

async function layerFiles(gz: Uint8Array): Promise<Map<string, string>> {
  return new Map([...(await layerEntries(gz))].map(([path, entry]) => [path, entry.content]));
}

/** Applies layers like an overlay/union would (whiteouts delete, opaque markers hide lower content). */
function mergeLayers(layers: Map<string, LayerEntry>[]): Map<string, LayerEntry> {
  const tree = new Map<string, LayerEntry>();
  const removeUnder = (dir: string) => {
    for (const path of [...tree.keys()]) if (path.startsWith(`${dir}/`)) tree.delete(path);
  };
  for (const layer of layers) {
    for (const path of layer.keys()) {
      const slash = path.lastIndexOf("/");
      const dir = path.slice(0, slash);
      const base = path.slice(slash + 1);
      if (base === ".wh..wh..opq") removeUnder(dir);
      else if (base.startsWith(".wh.")) {
        const victim = `${dir ? `${dir}/` : ""}${base.slice(4)}`;
        tree.delete(victim);
        removeUnder(victim);
      }
    }
    for (const [path, entry] of layer) if (!path.split("/").at(-1)?.startsWith(".wh.")) tree.set(path, entry);
  }
  return tree;
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error("expected a rejection");
}

let registry: RunningRegistry;
let fixtures: FixtureInfo;
const client = new RegistryClient({ retryDelayMs: 10 });

beforeAll(async () => {
  registry = await startRegistry();
  fixtures = await pushFixtures(registry.url, { client });
});

afterAll(async () => {
  await registry?.stop();
});

describe("manifests", () => {
  test("pull by tag returns the pushed Docker schema 2 manifest", async () => {
    const resolved = await client.getManifest(fixtures.busybox.reference);
    expect(resolved.digest).toBe(fixtures.busybox.digest);
    expect(resolved.mediaType).toBe(MediaType.DockerManifest);
    expect(digestOf(resolved.raw)).toBe(fixtures.busybox.digest);
    expect(resolved.manifest.config.digest).toBe(fixtures.busybox.configDigest);
    expect(resolved.manifest.layers.map((l) => l.digest)).toEqual(fixtures.busybox.layers.map((l) => l.digest));
    expect(resolved.index).toBeUndefined();
    expect(resolved.reference).toEqual({ domain: registry.url, path: "busybox", tag: "latest" });
  });

  test("pull by digest verifies and returns the same bytes", async () => {
    const byDigest = await client.getManifest(`${fixtures.layered.repository}@${fixtures.layered.digest}`);
    expect(byDigest.digest).toBe(fixtures.layered.digest);
    expect(byDigest.manifest.layers).toHaveLength(3);
    expect(Buffer.from(byDigest.raw).equals(Buffer.from(await Bun.file(blobPath(fixtures.layered.digest)).bytes()))).toBe(true);
  });

  test("HEAD gives digest, media type and size without the body", async () => {
    const head = await client.headManifest(fixtures.multiarch.reference);
    expect(head).toEqual({
      mediaType: MediaType.OciIndex,
      digest: fixtures.multiarch.digest,
      size: (await Bun.file(blobPath(fixtures.multiarch.digest)).bytes()).byteLength,
    });
  });

  test("an index resolves to the requested platform", async () => {
    const amd64 = await client.getManifest(fixtures.multiarch.reference, { platform: { os: "linux", architecture: "amd64" } });
    const arm64 = await client.getManifest(fixtures.multiarch.reference, { platform: { os: "linux", architecture: "arm64" } });
    expect(amd64.digest).toBe(fixtures.multiarch.amd64.digest);
    expect(arm64.digest).toBe(fixtures.multiarch.arm64.digest);
    expect(amd64.mediaType).toBe(MediaType.OciManifest);
    expect(amd64.index?.digest).toBe(fixtures.multiarch.digest);
    expect(arm64.index?.digest).toBe(fixtures.multiarch.digest);
    expect(arm64.index?.descriptor.platform).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });

    // The config and the marker layer say which one was pulled.
    for (const [resolved, architecture, marker] of [
      [amd64, "amd64", "linux/amd64\n"],
      [arm64, "arm64", "linux/arm64/v8\n"],
    ] as const) {
      const config = await client.fetchBlob(fixtures.multiarch.repository, resolved.manifest.config.digest);
      expect(parseImageConfig(await readAll(config.stream), "multiarch").architecture).toBe(architecture);
      const markerLayer = resolved.manifest.layers.at(-1);
      if (!markerLayer) throw new Error("no marker layer");
      const blob = await client.fetchBlob(fixtures.multiarch.repository, markerLayer.digest, { size: markerLayer.size });
      expect((await layerFiles(await readAll(blob.stream))).get(PLATFORM_MARKER_PATH)).toBe(marker);
    }
  });

  test("arm64 with an explicit v8 variant and aarch64 alias match the same entry", async () => {
    const v8 = await client.getManifest(fixtures.multiarch.reference, { platform: { os: "linux", architecture: "arm64", variant: "v8" } });
    const alias = await client.getManifest(fixtures.multiarch.reference, { platform: { os: "linux", architecture: "aarch64" } });
    expect(v8.digest).toBe(fixtures.multiarch.arm64.digest);
    expect(alias.digest).toBe(fixtures.multiarch.arm64.digest);
  });

  test("no entry for the platform is a NotFoundError in docker's words", async () => {
    const err = await rejection(client.getManifest(fixtures.multiarch.reference, { platform: { os: "linux", architecture: "s390x" } }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe("no matching manifest for linux/s390x in the manifest list entries");
  });

  test("an unknown tag is a NotFoundError worded like docker", async () => {
    const err = await rejection(client.getManifest(`${registry.url}/nope:latest`));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe(`manifest for ${registry.url}/nope:latest not found: manifest unknown: manifest unknown`);
    expect(await rejection(client.headManifest(`${registry.url}/nope:latest`))).toBeInstanceOf(NotFoundError);
  });

  test("a registry that is not there is a SystemError with the cause", async () => {
    const err = await rejection(client.getManifest(`${NOTHING_LISTENS}/busybox:latest`));
    expect(err).toBeInstanceOf(SystemError);
    expect(err.message).toBe(`Get "http://${NOTHING_LISTENS}/v2/busybox/manifests/latest": connection refused`);
    expect(err.cause).toBeDefined();
  });
});

describe("blobs", () => {
  test("every layer streams and hashes to its digest", async () => {
    for (const layer of fixtures.layered.layers) {
      const blob = await client.fetchBlob(fixtures.layered.repository, layer.digest);
      expect(blob.size).toBe(layer.size);
      const hasher = new DigestHasher();
      let size = 0;
      for await (const chunk of blob.stream) {
        hasher.update(chunk);
        size += chunk.byteLength;
      }
      expect(size).toBe(layer.size);
      expect(hasher.digest()).toBe(layer.digest);
    }
  });

  test("the layered image merges to what LAYERED_EXPECTED describes", async () => {
    const resolved = await client.getManifest(fixtures.layered.reference);
    const layers = await Promise.all(
      resolved.manifest.layers.map(async (layer) => layerEntries(await readAll((await client.fetchBlob(fixtures.layered.repository, layer.digest)).stream))),
    );
    const top = layers[2];
    expect(top?.has("data/.wh.remove-me.txt")).toBe(true);
    expect(top?.has("opaque/.wh..wh..opq")).toBe(true);
    const tree = mergeLayers(layers);
    for (const [path, content] of Object.entries(LAYERED_EXPECTED.files)) expect(tree.get(path)?.content).toBe(content);
    for (const path of LAYERED_EXPECTED.absent) expect(tree.has(path)).toBe(false);
    for (const [path, target] of Object.entries(LAYERED_EXPECTED.symlinks)) expect(tree.get(path)).toMatchObject({ type: "symlink", linkname: target });
    for (const [path, target] of LAYERED_EXPECTED.hardlinks) expect(tree.get(path)).toMatchObject({ type: "link", linkname: target });
    for (const [path, mode] of Object.entries(LAYERED_EXPECTED.modes)) expect(tree.get(path)?.mode).toBe(mode);
    for (const [path, [uid, gid]] of Object.entries(LAYERED_EXPECTED.owners)) expect(tree.get(path)).toMatchObject({ uid, gid });
    expect(tree.get("bin/sh")).toMatchObject({ type: "symlink", linkname: "busybox" });
    expect(tree.get("etc/passwd")?.content).toContain("app:x:1000:1000:");
    const config = parseImageConfig(await readAll((await client.fetchBlob(fixtures.layered.repository, resolved.manifest.config.digest)).stream), "layered");
    expect(config.config?.Cmd).toEqual(LAYERED_EXPECTED.cmd);
    expect(config.rootfs.diff_ids).toEqual(fixtures.layered.layers.map((layer) => layer.diffId));
  });

  test("offset reads the tail with a Range request", async () => {
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const whole = await Bun.file(blobPath(layer.digest)).bytes();
    const tail = await client.fetchBlob(fixtures.busybox.repository, layer.digest, { offset: 1000 });
    expect(tail.size).toBe(layer.size);
    expect(Buffer.from(await readAll(tail.stream)).equals(Buffer.from(whole.subarray(1000)))).toBe(true);
  });

  test("cancelling a blob stream part-way releases it", async () => {
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const blob = await client.fetchBlob(fixtures.busybox.repository, layer.digest);
    const reader = blob.stream.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel("enough");
    // The client still works afterwards (no stuck connection).
    expect((await client.getManifest(fixtures.busybox.reference)).digest).toBe(fixtures.busybox.digest);
  });

  test("an aborted signal stops a download", async () => {
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const controller = new AbortController();
    const blob = await client.fetchBlob(fixtures.busybox.repository, layer.digest, { signal: controller.signal });
    const reader = blob.stream.getReader();
    await reader.read();
    controller.abort();
    const err = await rejection((async () => {
      for (;;) if ((await reader.read()).done) return;
    })());
    expect(err.name).toBe("AbortError");
  });

  test("a missing blob is a NotFoundError", async () => {
    const err = await rejection(client.fetchBlob(fixtures.busybox.repository, digestOf("nothing")));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toContain("blob unknown");
    expect(await client.blobExists(fixtures.busybox.repository, digestOf("nothing"))).toBe(false);
    expect(await client.blobExists(fixtures.busybox.repository, fixtures.busybox.configDigest)).toBe(true);
  });
});

describe("push", () => {
  test("cross-repository mount links a blob without uploading it", async () => {
    const target = `${registry.url}/mounted/busybox`;
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    expect(await client.blobExists(target, layer.digest)).toBe(false);
    expect(await client.mountBlob(target, fixtures.busybox.repository, layer.digest)).toBe(true);
    expect(await client.blobExists(target, layer.digest)).toBe(true);
    // Unknown source blob: the registry declines (and the upload it opened is cancelled).
    expect(await client.mountBlob(target, fixtures.busybox.repository, digestOf("absent"))).toBe(false);
  });

  test("push then pull gives the same digests", async () => {
    const target = `${registry.url}/copies/busybox`;
    const source = await client.getManifest(fixtures.busybox.reference);
    for (const layer of source.manifest.layers) {
      expect(await client.mountBlob(target, fixtures.busybox.repository, layer.digest)).toBe(true);
    }
    // The config travels as bytes through the client: download, upload.
    const config = await readAll((await client.fetchBlob(fixtures.busybox.repository, source.manifest.config.digest)).stream);
    expect(await client.uploadBlob(target, config)).toEqual({ digest: source.manifest.config.digest, size: config.byteLength });
    const pushed = await client.putManifest(`${target}:copy`, source.raw, { mediaType: source.mediaType });
    expect(pushed).toBe(source.digest);
    const pulled = await client.getManifest(`${target}:copy`);
    expect(pulled.digest).toBe(source.digest);
    expect(pulled.manifest).toEqual(source.manifest);
  });

  test("a streamed upload goes out in PATCH chunks and verifies", async () => {
    const chunked = new RegistryClient({ uploadChunkSize: 64 * 1024 });
    const data = new Uint8Array(300 * 1024 + 17).map((_, i) => (i * 7919) % 251);
    const stream = new Blob([data]).stream();
    const result = await chunked.uploadBlob(`${registry.url}/streamed`, stream);
    expect(result).toEqual({ digest: digestOf(data), size: data.byteLength });
    const back = await readAll((await client.fetchBlob(`${registry.url}/streamed`, result.digest)).stream);
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });

  test("an upload whose bytes do not match the announced digest fails", async () => {
    const err = await rejection(client.uploadBlob(`${registry.url}/streamed`, new TextEncoder().encode("abc"), { digest: digestOf("abd") }));
    expect(err.message).toContain("digest mismatch");
  });

  test("catalog and tags list what was pushed", async () => {
    const repositories = await client.catalog(registry.url, { pageSize: 2 });
    expect(repositories).toEqual(expect.arrayContaining(["busybox", "layered", "multiarch", "mounted/busybox", "copies/busybox"]));
    expect(await client.tags(`${registry.url}/copies/busybox`)).toEqual(["copy"]);
    expect(await rejection(client.tags(`${registry.url}/never-pushed`))).toBeInstanceOf(NotFoundError);
  });
});

describe("dropped connections", () => {
  let proxy: RunningFlakyProxy | undefined;
  afterAll(() => proxy?.stop());

  test("a blob cut mid-body resumes with Range and the bytes verify", async () => {
    proxy = await startFlakyProxy({ target: registry.url, mode: "cut", afterBytes: 64 * 1024, times: 2 });
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const blob = await client.fetchBlob(`${proxy.url}/busybox`, layer.digest);
    const bytes = await readAll(blob.stream);
    expect(bytes.byteLength).toBe(layer.size);
    expect(digestOf(bytes)).toBe(layer.digest);
    expect(proxy.cutsDone).toBe(2);
    const blobRequests = proxy.requests.filter((line) => line.includes(`/blobs/${layer.digest}`));
    expect(blobRequests).toHaveLength(3);
    expect(blobRequests[0]).not.toContain("Range");
    // Each resume starts where the bytes received so far end.
    const offsets = blobRequests.slice(1).map((line) => Number(/Range: bytes=(\d+)-$/.exec(line)?.[1]));
    expect(offsets[0]).toBeGreaterThan(0);
    expect(offsets[1]).toBeGreaterThan(offsets[0] ?? 0);
    proxy.stop();
  });

  test("a registry that always cuts makes the stream fail clearly after the retries", async () => {
    proxy = await startFlakyProxy({ target: registry.url, mode: "cut", afterBytes: 4096, times: Number.POSITIVE_INFINITY });
    const flaky = new RegistryClient({ blobRetries: 3, retryDelayMs: 5 });
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const blob = await flaky.fetchBlob(`${proxy.url}/busybox`, layer.digest);
    const err = await rejection(readAll(blob.stream));
    expect(err).toBeInstanceOf(SystemError);
    expect(err.message).toMatch(
      new RegExp(`^failed to download blob ${layer.digest} of ${proxy.url}/busybox: connection lost at byte \\d+ of ${layer.size}, gave up after 3 retries`),
    );
    expect(proxy.cutsDone).toBe(4);
    proxy.stop();
  });

  test("a connection that goes silent is abandoned after the stall timeout and resumed", async () => {
    proxy = await startFlakyProxy({ target: registry.url, mode: "stall", afterBytes: 32 * 1024, times: 1 });
    // Long enough that the healthy resumed download never looks stalled, even on a loaded machine.
    const stallTimeoutMs = 2000;
    const impatient = new RegistryClient({ stallTimeoutMs, retryDelayMs: 5 });
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const started = performance.now();
    const blob = await impatient.fetchBlob(`${proxy.url}/busybox`, layer.digest);
    expect(digestOf(await readAll(blob.stream))).toBe(layer.digest);
    expect(performance.now() - started).toBeGreaterThanOrEqual(stallTimeoutMs);
    expect(proxy.cutsDone).toBe(1);
    expect(proxy.requests.filter((line) => line.includes("Range: bytes="))).toHaveLength(1);
    proxy.stop();
  });

  test("corrupted blobs and manifests are refused", async () => {
    proxy = await startFlakyProxy({ target: registry.url, mode: "corrupt" });
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    const blob = await client.fetchBlob(`${proxy.url}/busybox`, layer.digest);
    const err = await rejection(readAll(blob.stream));
    expect(err).toBeInstanceOf(SystemError);
    expect(err.message).toContain("verification failed");
    const manifestErr = await rejection(client.getManifest(`${proxy.url}/busybox@${fixtures.busybox.digest}`));
    expect(manifestErr.message).toBe(`manifest verification failed for digest ${fixtures.busybox.digest}`);
    proxy.stop();
  });
});

describe("mirrors", () => {
  test("docker.io pulls go to the first mirror that answers", async () => {
    // Stock the test registry as a Docker Hub mirror would be: library/busybox.
    const hubName = `${registry.url}/library/busybox`;
    const source = await client.getManifest(fixtures.busybox.reference);
    for (const blob of [source.manifest.config, ...source.manifest.layers]) {
      expect(await client.mountBlob(hubName, fixtures.busybox.repository, blob.digest)).toBe(true);
    }
    await client.putManifest(`${hubName}:latest`, source.raw, { mediaType: source.mediaType });

    const deadMirror = `http://${NOTHING_LISTENS}`;
    const mirrored = new RegistryClient({ mirrors: [deadMirror, `http://${registry.url}/`] });
    const resolved = await mirrored.getManifest("busybox");
    expect(resolved.reference).toEqual({ domain: "docker.io", path: "library/busybox", tag: "latest" });
    expect(resolved.digest).toBe(source.digest);
    const layer = resolved.manifest.layers[0];
    if (!layer) throw new Error("no layer");
    expect(digestOf(await readAll((await mirrored.fetchBlob("docker.io/library/busybox", layer.digest)).stream))).toBe(layer.digest);
  });
});

describe("Basic auth registry", () => {
  let secured: RunningRegistry;
  const credentials = { username: "alice", password: "s3cret" };

  beforeAll(async () => {
    secured = await startRegistry({ auth: credentials });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  test("no or wrong credentials are refused with UnauthorizedError", async () => {
    const anonymous = await rejection(new RegistryClient().getManifest(`${secured.url}/busybox:latest`));
    expect(anonymous).toBeInstanceOf(UnauthorizedError);
    const wrong = await rejection(
      new RegistryClient().getManifest(`${secured.url}/busybox:latest`, { credentials: { ...credentials, password: "nope" } }),
    );
    expect(wrong).toBeInstanceOf(UnauthorizedError);
    expect(wrong.message).toContain("unauthorized: authentication required");
    expect(await rejection(new RegistryClient().login(secured.url, { ...credentials, password: "nope" }))).toBeInstanceOf(UnauthorizedError);
  });

  test("the right credentials push and pull", async () => {
    const authed = new RegistryClient();
    expect(await authed.login(secured.url, credentials)).toEqual({});
    const info = await pushFixtures(secured.url, { client: authed, credentials });
    const pulled = await authed.getManifest(info.busybox.reference, { credentials });
    expect(pulled.digest).toBe(fixtures.busybox.digest);
    const layer = pulled.manifest.layers[0];
    if (!layer) throw new Error("no layer");
    expect(digestOf(await readAll((await authed.fetchBlob(info.busybox.repository, layer.digest, { credentials })).stream))).toBe(
      layer.digest,
    );
    // Credentials are per request: the same client without them is refused.
    expect(await rejection(authed.getManifest(info.busybox.reference))).toBeInstanceOf(UnauthorizedError);
  });
});

describe("Bearer token registry", () => {
  let tokens: RunningTokenServer;
  let secured: RunningRegistry;
  const credentials = { username: "bob", password: "hunter2" };

  beforeAll(async () => {
    tokens = await startTokenServer({ [credentials.username]: credentials.password });
    secured = await startRegistry({ tokenAuth: tokens });
  });
  afterAll(async () => {
    await secured?.stop();
    await tokens?.stop();
  });

  test("tokens are fetched with the operation's scopes and cached", async () => {
    const authed = new RegistryClient();
    const info = await pushFixtures(secured.url, { client: authed, credentials });
    expect(tokens.requests.some((r) => r.account === "bob" && r.scopes.includes("repository:busybox:pull,push"))).toBe(true);
    const before = tokens.requests.length;
    const first = await authed.getManifest(info.busybox.reference, { credentials });
    await authed.getManifest(info.busybox.reference, { credentials });
    expect(first.digest).toBe(fixtures.busybox.digest);
    // One pull-scoped token for both reads (the push token had other scopes).
    expect(tokens.requests.length - before).toBeLessThanOrEqual(1);
    expect(await authed.catalog(secured.url, { credentials })).toEqual(expect.arrayContaining(["busybox", "multiarch"]));
  });

  test("a cross-repository mount asks for push on the target and pull on the source", async () => {
    const authed = new RegistryClient();
    const layer = fixtures.busybox.layers[0];
    if (!layer) throw new Error("no layer");
    expect(await authed.mountBlob(`${secured.url}/team/copy`, `${secured.url}/busybox`, layer.digest, { credentials })).toBe(true);
    expect(tokens.requests.at(-1)?.scopes).toEqual(["repository:busybox:pull", "repository:team/copy:pull,push"]);
    expect(await authed.blobExists(`${secured.url}/team/copy`, layer.digest, { credentials })).toBe(true);
  });

  test("anonymous pulls of a private repository are denied like docker says", async () => {
    const err = await rejection(new RegistryClient().getManifest(`${secured.url}/busybox:latest`));
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.message).toBe(
      `pull access denied for ${secured.url}/busybox, repository does not exist or may require 'docker login': unauthorized: authentication required`,
    );
  });

  test("a wrong password is refused by the token server", async () => {
    const err = await rejection(
      new RegistryClient().getManifest(`${secured.url}/busybox:latest`, { credentials: { ...credentials, password: "bad" } }),
    );
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.message).toBe("unauthorized: incorrect username or password");
  });

  test("login returns an identity token that later authenticates on its own", async () => {
    const { identityToken } = await new RegistryClient().login(secured.url, credentials);
    expect(identityToken).toBe(tokens.refreshTokenFor("bob"));
    if (!identityToken) throw new Error("no identity token");
    const pulled = await new RegistryClient().getManifest(`${secured.url}/layered:latest`, { credentials: { identitytoken: identityToken } });
    expect(pulled.digest).toBe(fixtures.layered.digest);
    expect(tokens.requests.at(-1)).toMatchObject({ method: "POST", refresh: true, account: "bob", scopes: ["repository:layered:pull"] });
  });

  test("an access token the registry does not accept for push is refused", async () => {
    const err = await rejection(new RegistryClient().uploadBlob(`${secured.url}/busybox`, new Uint8Array([1, 2, 3])));
    expect(err instanceof UnauthorizedError || err instanceof ForbiddenError).toBe(true);
  });
});
