import { InvalidParameterError, UnauthorizedError } from "../errors";
import { credentialsFromAuthConfig, parseAuthConfig } from "../registry/auth";
import type { RegistryClient } from "../registry/client";
import { resolveEndpoints } from "../registry/endpoint";
import { DEFAULT_DOMAIN } from "../registry/reference";

/** The registry a `docker login` server address names: `127.0.0.1:5000`, `https://index.docker.io/v1/` → docker.io. */
export function registryOfServerAddress(serverAddress: string | undefined): string {
  const host = (serverAddress ?? "").trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (!host || host === "index.docker.io" || host === "registry-1.docker.io" || host === DEFAULT_DOMAIN) return DEFAULT_DOMAIN;
  return host;
}

/**
 * `POST /auth` (`docker login`): checks the credentials against the registry and answers in docker's shape.
 * Refused credentials are a 401 worded like dockerd's.
 */
export async function login(registry: RegistryClient, body: unknown, insecureRegistries: readonly string[]): Promise<{ Status: string; IdentityToken: string }> {
  const config = parseAuthConfig(body);
  const credentials = credentialsFromAuthConfig(config);
  if (!credentials) throw new InvalidParameterError("username and password (or an identity token) are required");
  const domain = registryOfServerAddress(config.serveraddress);
  try {
    const { identityToken } = await registry.login(domain, credentials);
    return { Status: "Login Succeeded", IdentityToken: identityToken ?? "" };
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const endpoint = resolveEndpoints(domain, "push", { insecureRegistries })[0];
    // A token server explains itself ("incorrect username or password"); a plain 401 gets dockerd's sentence.
    const generic = /^unauthorized: authentication required/.test(err.message);
    throw new UnauthorizedError(generic && endpoint ? `login attempt to ${endpoint.url}/v2/ failed with status: 401 Unauthorized` : err.message, { cause: err });
  }
}
