/**
 * Docker image references (`busybox`, `127.0.0.1:5000/x/y:tag`, `name@sha256:…`), parsed and normalised the way
 * the docker CLI and daemon do it (distribution/reference's grammar and `ParseNormalizedNamed`).
 */
import { InvalidParameterError } from "../errors.ts";
import { isValidDigest } from "./digest.ts";

export const DEFAULT_DOMAIN = "docker.io";
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
export const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
const MAX_NAME_LENGTH = 255;

/** A repository: where images live (`docker.io` + `library/busybox`). */
export interface Repository {
  /** Registry host with optional port, as written by the user (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`). */
  domain: string;
  /** Path inside the registry (`library/busybox`); always lowercase. */
  path: string;
}

/** A repository plus a tag and/or a digest; when both are set the digest is what gets pulled. */
export interface Reference extends Repository {
  tag?: string;
  digest?: string;
}

const domainComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const ipv6Host = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainPattern = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6Host})(?::[0-9]+)?`;
const pathComponent = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const pathPattern = `${pathComponent}(?:/${pathComponent})*`;
const DOMAIN_RE = new RegExp(`^${domainPattern}$`);
const PATH_RE = new RegExp(`^${pathPattern}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$/;
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

function invalid(detail?: string): InvalidParameterError {
  return new InvalidParameterError(detail ? `invalid reference format: ${detail}` : "invalid reference format");
}

/**
 * Splits `[domain/]path` the docker way: the first component is a domain only if it has a `.` or `:`, is
 * `localhost`, or has an uppercase letter; otherwise the name lives on Docker Hub (`library/` for one component).
 */
function splitDomain(name: string): Repository {
  const slash = name.indexOf("/");
  const first = name.slice(0, slash);
  const isDomain =
    slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first);
  let domain = isDomain ? first : DEFAULT_DOMAIN;
  let path = isDomain ? name.slice(slash + 1) : name;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/** Splits `name[:tag][@digest]` into its parts without validating them. */
function splitTagAndDigest(input: string): { name: string; tag?: string; digest?: string } {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

function validateRepository(repo: Repository, original: string): void {
  if (!DOMAIN_RE.test(repo.domain)) throw invalid();
  if (repo.path.toLowerCase() !== repo.path && PATH_RE.test(repo.path.toLowerCase())) {
    throw invalid(`repository name (${repo.path}) must be lowercase`);
  }
  if (!PATH_RE.test(repo.path)) throw invalid();
  if (repo.domain.length + 1 + repo.path.length > MAX_NAME_LENGTH) {
    throw invalid(`repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  }
  if (IMAGE_ID_RE.test(original)) {
    throw new InvalidParameterError(
      `invalid repository name (${original}), cannot specify 64-byte hexadecimal strings`,
    );
  }
}

/**
 * Parses a user-supplied reference into its normalised form. `busybox` becomes docker.io/library/busybox:latest;
 * a reference with a digest and no tag gets no tag. Throws InvalidParameterError("invalid reference format…").
 */
export function parseReference(input: string, options: { defaultTag?: boolean } = {}): Reference {
  if (input === "") throw invalid("repository name must have at least one component");
  const parts = splitTagAndDigest(input);
  if (parts.name === "") throw invalid("repository name must have at least one component");
  const repo = splitDomain(parts.name);
  validateRepository(repo, parts.name);
  const ref: Reference = { ...repo };
  if (parts.tag !== undefined) {
    if (!TAG_RE.test(parts.tag)) throw invalid();
    ref.tag = parts.tag;
  }
  if (parts.digest !== undefined) {
    if (!DIGEST_RE.test(parts.digest) || !isValidDigest(parts.digest)) throw invalid();
    ref.digest = parts.digest;
  }
  if ((options.defaultTag ?? true) && ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG;
  return ref;
}

/** Parses a repository name that must carry neither tag nor digest (push targets, `tags`, blob operations). */
export function parseRepository(input: string): Repository {
  const ref = parseReference(input, { defaultTag: false });
  if (ref.tag !== undefined || ref.digest !== undefined) {
    throw new InvalidParameterError(`invalid repository name ${JSON.stringify(input)}: it must not have a tag or digest`);
  }
  return { domain: ref.domain, path: ref.path };
}

/** `docker.io/library/busybox` */
export function repositoryName(repo: Repository): string {
  return `${repo.domain}/${repo.path}`;
}

/** `docker.io/library/busybox:latest@sha256:…`: the canonical, fully-qualified form. */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + suffixOf(ref);
}

/** The short name docker shows: `busybox`, `user/app`, `127.0.0.1:5000/x`. */
export function familiarName(repo: Repository): string {
  if (repo.domain !== DEFAULT_DOMAIN) return repositoryName(repo);
  return repo.path.startsWith(OFFICIAL_REPO_PREFIX) && repo.path.indexOf("/", OFFICIAL_REPO_PREFIX.length) < 0
    ? repo.path.slice(OFFICIAL_REPO_PREFIX.length)
    : repo.path;
}

/** The short form with tag/digest: `busybox:latest`, `127.0.0.1:5000/x@sha256:…`. */
export function familiarString(ref: Reference): string {
  return familiarName(ref) + suffixOf(ref);
}

function suffixOf(ref: Reference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
}

/** What to ask the registry for: the digest when there is one, else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** Accepts either form so callers holding a string need not parse first. */
export function toReference(ref: Reference | string): Reference {
  return typeof ref === "string" ? parseReference(ref) : ref;
}

export function toRepository(repo: Repository | string): Repository {
  return typeof repo === "string" ? parseRepository(repo) : { domain: repo.domain, path: repo.path };
}
