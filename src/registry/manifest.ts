/**
 * Validating parsers for the JSON documents of an image (manifest, index, config). Their input is untrusted
 * (registries, tarballs), so every field other code relies on is checked before it is typed.
 */
import { NotImplementedError, SystemError } from "../errors.ts";
import { isValidDigest } from "./digest.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  IMAGE_MANIFEST_MEDIA_TYPES,
  INDEX_MEDIA_TYPES,
  MediaType,
  type Platform,
} from "./types.ts";

export type ParsedManifest =
  | { kind: "manifest"; mediaType: string; manifest: ImageManifest }
  | { kind: "index"; mediaType: string; index: ImageIndex };

/** Every manifest media type we can use, for the Accept header. */
export const ACCEPTED_MANIFEST_TYPES: readonly string[] = [...IMAGE_MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function invalid(what: string, why: string): SystemError {
  return new SystemError(`invalid ${what}: ${why}`);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((item) => typeof item === "string");
}

function checkPlatform(value: unknown, what: string): Platform {
  if (!isObject(value) || typeof value.architecture !== "string" || typeof value.os !== "string") {
    throw invalid(what, "platform needs string architecture and os");
  }
  if (value.variant !== undefined && typeof value.variant !== "string") throw invalid(what, "platform variant must be a string");
  return value as unknown as Platform;
}

/** Checks the fields of a descriptor that code dereferences (digest, size, mediaType, platform). */
export function checkDescriptor(value: unknown, what: string): Descriptor {
  if (!isObject(value)) throw invalid(what, "descriptor is not an object");
  if (typeof value.mediaType !== "string") throw invalid(what, "descriptor has no mediaType");
  if (typeof value.digest !== "string" || !isValidDigest(value.digest)) {
    throw invalid(what, `descriptor digest ${JSON.stringify(value.digest)} is not valid`);
  }
  if (typeof value.size !== "number" || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw invalid(what, "descriptor size must be a non-negative integer");
  }
  if (value.urls !== undefined && !isStringArray(value.urls)) throw invalid(what, "descriptor urls must be strings");
  if (value.annotations !== undefined && !isStringRecord(value.annotations)) {
    throw invalid(what, "descriptor annotations must be strings");
  }
  if (value.platform !== undefined) checkPlatform(value.platform, what);
  return value as unknown as Descriptor;
}

function schema1Error(name: string): NotImplementedError {
  return new NotImplementedError(
    `[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been ` +
      `removed. Suggest the author of ${name} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.`,
  );
}

/**
 * Parses manifest bytes. The media type comes from the document itself, else from the Content-Type the registry sent,
 * else from the shape (`manifests` → index). `name` only feeds error messages.
 */
export function parseManifest(raw: Uint8Array, contentType: string | null, name: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(raw));
  } catch (err) {
    throw new SystemError(`invalid manifest for ${name}: not JSON`, { cause: err });
  }
  const headerType = contentType?.split(";")[0]?.trim() || undefined;
  if (!isObject(doc)) throw invalid(`manifest for ${name}`, "not a JSON object");
  if (doc.schemaVersion === 1) throw schema1Error(name);
  if (doc.schemaVersion !== 2) throw invalid(`manifest for ${name}`, `unsupported schemaVersion ${String(doc.schemaVersion)}`);
  if (doc.mediaType !== undefined && typeof doc.mediaType !== "string") throw invalid(`manifest for ${name}`, "mediaType must be a string");
  const guessed = Array.isArray(doc.manifests) ? MediaType.OciIndex : MediaType.OciManifest;
  const mediaType = doc.mediaType ?? headerType ?? guessed;
  if (mediaType === MediaType.DockerSchema1Manifest || mediaType === MediaType.DockerSchema1SignedManifest) {
    throw schema1Error(name);
  }
  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalid(`index for ${name}`, "manifests must be an array");
    doc.manifests.forEach((entry, i) => checkDescriptor(entry, `index for ${name} (manifests[${i}])`));
    return { kind: "index", mediaType, index: doc as unknown as ImageIndex };
  }
  if (IMAGE_MANIFEST_MEDIA_TYPES.includes(mediaType)) {
    checkDescriptor(doc.config, `manifest for ${name} (config)`);
    if (!Array.isArray(doc.layers)) throw invalid(`manifest for ${name}`, "layers must be an array");
    doc.layers.forEach((layer, i) => checkDescriptor(layer, `manifest for ${name} (layers[${i}])`));
    return { kind: "manifest", mediaType, manifest: doc as unknown as ImageManifest };
  }
  throw new NotImplementedError(`unsupported manifest media type ${mediaType} for ${name}`);
}

/** Parses an image config blob, checking platform and rootfs (the fields pulling and running depend on). */
export function parseImageConfig(raw: Uint8Array | string, name: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof raw === "string" ? raw : new TextDecoder().decode(raw));
  } catch (err) {
    throw new SystemError(`invalid image config for ${name}: not JSON`, { cause: err });
  }
  const what = `image config for ${name}`;
  if (!isObject(doc)) throw invalid(what, "not a JSON object");
  if (typeof doc.architecture !== "string" || typeof doc.os !== "string") {
    throw invalid(what, "architecture and os must be strings");
  }
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== "layers" || !isStringArray(rootfs.diff_ids)) {
    throw invalid(what, 'rootfs must be {"type":"layers","diff_ids":[…]}');
  }
  for (const diffId of rootfs.diff_ids) {
    if (!isValidDigest(diffId)) throw invalid(what, `diff_id ${JSON.stringify(diffId)} is not a valid digest`);
  }
  if (doc.config !== undefined && doc.config !== null && !isObject(doc.config)) throw invalid(what, "config must be an object");
  if (doc.config === null) delete doc.config;
  if (doc.history !== undefined && !(Array.isArray(doc.history) && doc.history.every(isObject))) {
    throw invalid(what, "history must be an array of objects");
  }
  return doc as unknown as ImageConfig;
}
