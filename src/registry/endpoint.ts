/**
 * Where requests for a registry domain go: scheme (plain HTTP only for loopback and configured insecure
 * registries), Docker Hub's real API host, and pull mirrors for Docker Hub.
 */
import { InvalidParameterError } from "../errors.ts";
import { DEFAULT_DOMAIN } from "./reference.ts";

/** Docker Hub's registry API host. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

export interface RegistryEndpoint {
  /** Base URL without trailing slash; `/v2/...` is appended (`https://registry-1.docker.io`, `http://127.0.0.1:5000`). */
  url: string;
  /** True for a pull-through mirror: failures fall through to the next endpoint. */
  mirror: boolean;
}

export interface EndpointOptions {
  /** `host[:port]` entries, or IPv4 CIDRs (`10.0.0.0/8`), reached over plain HTTP like docker's insecure-registries. */
  insecureRegistries?: readonly string[];
  /** Mirror base URLs (`https://mirror.example`, `http://127.0.0.1:5001`) tried before Docker Hub for pulls. */
  mirrors?: readonly string[];
}

/** Splits `host[:port]` (IPv6 in brackets) into the bare host. */
function hostOf(domain: string): string {
  if (domain.startsWith("[")) return domain.slice(1, domain.indexOf("]"));
  const colon = domain.lastIndexOf(":");
  return colon < 0 ? domain : domain.slice(0, colon);
}

function ipv4ToNumber(address: string): number | undefined {
  const parts = address.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

function inCidr(host: string, cidr: string): boolean {
  const [network, bitsText] = cidr.split("/");
  const address = ipv4ToNumber(host);
  const base = network === undefined ? undefined : ipv4ToNumber(network);
  const bits = Number(bitsText);
  if (address === undefined || base === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(address / size) === Math.floor(base / size);
}

export function isLoopbackDomain(domain: string): boolean {
  const host = hostOf(domain).toLowerCase();
  return host === "localhost" || host === "::1" || inCidr(host, "127.0.0.0/8");
}

/** True when `domain` is spoken to over plain HTTP. */
export function isInsecureDomain(domain: string, insecureRegistries: readonly string[] = []): boolean {
  if (isLoopbackDomain(domain)) return true;
  const host = hostOf(domain);
  return insecureRegistries.some((entry) =>
    entry.includes("/") ? inCidr(host, entry) : entry === domain || entry === host,
  );
}

/** Validates a mirror URL and strips its trailing slash. */
export function normalizeMirrorUrl(mirror: string): string {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new InvalidParameterError(`invalid registry mirror ${JSON.stringify(mirror)}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidParameterError(`invalid registry mirror ${JSON.stringify(mirror)}: scheme must be http or https`);
  }
  if (url.search || url.hash) {
    throw new InvalidParameterError(`invalid registry mirror ${JSON.stringify(mirror)}: must not have a query or fragment`);
  }
  return url.toString().replace(/\/+$/, "");
}

/**
 * The endpoints to try for `domain`, in order. Mirrors come first, and only for Docker Hub pulls; pushes and other
 * registries have exactly one endpoint.
 */
export function resolveEndpoints(domain: string, purpose: "pull" | "push", options: EndpointOptions = {}): RegistryEndpoint[] {
  if (domain === DEFAULT_DOMAIN) {
    const hub: RegistryEndpoint = { url: `https://${DOCKER_HUB_API_HOST}`, mirror: false };
    if (purpose === "push") return [hub];
    return [...(options.mirrors ?? []).map((url) => ({ url: normalizeMirrorUrl(url), mirror: true })), hub];
  }
  const scheme = isInsecureDomain(domain, options.insecureRegistries) ? "http" : "https";
  return [{ url: `${scheme}://${domain}`, mirror: false }];
}
