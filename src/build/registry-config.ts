/**
 * `X-Registry-Config`: what the docker CLI sends with a build so the daemon can pull base images — base64 (URL-safe
 * or standard) of a JSON map from registry (`https://index.docker.io/v1/`, `127.0.0.1:5000`, ...) to AuthConfig.
 */
import { InvalidParameterError } from "../errors";
import { credentialsFromAuthConfig, parseAuthConfig, type RegistryAuthConfig, type RegistryCredentials } from "../registry/auth";

export type RegistryConfig = Map<string, RegistryAuthConfig>;

const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** `https://index.docker.io/v1/` → `docker.io`; `http://127.0.0.1:5000/x` → `127.0.0.1:5000`. */
function registryHost(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").split("/")[0]!.toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? "docker.io" : host;
}

export function parseRegistryConfig(header: string | undefined): RegistryConfig {
  const out: RegistryConfig = new Map();
  if (!header || header.trim() === "") return out;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header.trim(), "base64").toString("utf8"));
  } catch (err) {
    throw new InvalidParameterError("invalid X-Registry-Config header: not base64-encoded JSON", { cause: err });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new InvalidParameterError("invalid X-Registry-Config header: expected a JSON object");
  for (const [key, value] of Object.entries(json)) out.set(registryHost(key), parseAuthConfig(value));
  return out;
}

/** The credentials for pulls from `domain` (a reference's registry host), if the client sent any. */
export function credentialsFor(config: RegistryConfig, domain: string): RegistryCredentials | undefined {
  const auth = config.get(registryHost(domain));
  return auth ? credentialsFromAuthConfig(auth) : undefined;
}
