/**
 * Registry authentication: credentials as the docker CLI sends them (X-Registry-Auth), `WWW-Authenticate`
 * challenges, Basic auth, and the Bearer token flow (token server + scopes) with a token cache.
 */
import { InvalidParameterError, SystemError, UnauthorizedError } from "../errors.ts";
import { digestOf } from "./digest.ts";
import { send } from "./http.ts";

/** The AuthConfig JSON of the Docker API (X-Registry-Auth header, POST /auth body). */
export interface RegistryAuthConfig {
  username?: string;
  password?: string;
  /** base64 of `username:password` (docker config.json style). */
  auth?: string;
  email?: string;
  serveraddress?: string;
  /** A refresh token from an earlier login, exchanged at the token server. */
  identitytoken?: string;
  /** A bearer token sent to the registry as is. */
  registrytoken?: string;
}

/** What the client can authenticate with. Anonymous access is `undefined`. */
export type RegistryCredentials = { username: string; password: string } | { identitytoken: string } | { registrytoken: string };

function stringField(value: object, key: string): string | undefined {
  const field: unknown = (value as Record<string, unknown>)[key];
  return typeof field === "string" && field !== "" ? field : undefined;
}

/** The usable credentials in an AuthConfig, or undefined for anonymous. */
export function credentialsFromAuthConfig(config: RegistryAuthConfig): RegistryCredentials | undefined {
  if (config.identitytoken) return { identitytoken: config.identitytoken };
  if (config.registrytoken) return { registrytoken: config.registrytoken };
  if (config.username) return { username: config.username, password: config.password ?? "" };
  if (config.auth) {
    const decoded = Buffer.from(config.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/** Validates untrusted JSON as an AuthConfig, keeping only the known string fields. */
export function parseAuthConfig(value: unknown): RegistryAuthConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidParameterError("invalid registry auth config: expected a JSON object");
  }
  const config: RegistryAuthConfig = {};
  for (const key of ["username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken"] as const) {
    const field = stringField(value, key);
    if (field !== undefined) config[key] = field;
  }
  return config;
}

/**
 * Decodes the X-Registry-Auth header: base64url (standard base64 is accepted too) of an AuthConfig JSON.
 * An absent or empty header, or `{}`, means anonymous.
 */
export function decodeRegistryAuthHeader(header: string | null | undefined): RegistryCredentials | undefined {
  if (!header || header.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(header.trim(), "base64url").toString("utf8"));
  } catch (err) {
    throw new InvalidParameterError("invalid X-Registry-Auth header: not base64url-encoded JSON", { cause: err });
  }
  return credentialsFromAuthConfig(parseAuthConfig(json));
}

export interface AuthChallenge {
  /** Lowercase: `basic`, `bearer`. */
  scheme: string;
  /** Parameter names lowercased: realm, service, scope, error. */
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header into its challenges (`Bearer realm="…",service="…",scope="…"`).
 * A bare token not followed by `=` starts a new challenge.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  const tokenRe = /\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*/y;
  let pos = 0;
  let current: AuthChallenge | undefined;
  while (pos < header.length) {
    tokenRe.lastIndex = pos;
    const token = tokenRe.exec(header);
    if (!token?.[1]) {
      pos++;
      continue;
    }
    pos = tokenRe.lastIndex;
    if (header[pos] !== "=") {
      current = { scheme: token[1].toLowerCase(), params: {} };
      challenges.push(current);
      continue;
    }
    pos++;
    let value = "";
    const valueStart = header.slice(pos).match(/^\s*/)?.[0].length ?? 0;
    pos += valueStart;
    if (header[pos] === '"') {
      pos++;
      while (pos < header.length && header[pos] !== '"') {
        if (header[pos] === "\\") pos++;
        value += header[pos] ?? "";
        pos++;
      }
      pos++;
    } else {
      const end = header.slice(pos).search(/[\s,]/);
      value = end < 0 ? header.slice(pos) : header.slice(pos, pos + end);
      pos += value.length;
    }
    if (current) current.params[token[1].toLowerCase()] = value;
    while (pos < header.length && /[\s,]/.test(header[pos] ?? "")) pos++;
  }
  return challenges;
}

/** `repository:library/busybox:pull` for each repository path and action set. */
export function repositoryScope(path: string, actions: readonly string[]): string {
  return `repository:${path}:${actions.join(",")}`;
}

/** Merges scopes naming the same resource (`repository:x:pull` + `repository:x:push` → `repository:x:pull,push`). */
export function mergeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const lastColon = scope.lastIndexOf(":");
    if (lastColon < 0) continue;
    const resource = scope.slice(0, lastColon);
    const actions = byResource.get(resource) ?? new Set<string>();
    for (const action of scope.slice(lastColon + 1).split(",")) if (action) actions.add(action);
    byResource.set(resource, actions);
  }
  return [...byResource].map(([resource, actions]) => `${resource}:${[...actions].sort().join(",")}`).sort();
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

interface TokenResponse {
  token?: string;
  access_token?: string;
  expires_in?: number;
  issued_at?: string;
  refresh_token?: string;
}

const MIN_TOKEN_LIFETIME_S = 60;
const CLIENT_ID = "bunker";

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

function credentialsKey(credentials: RegistryCredentials | undefined): string {
  return credentials ? digestOf(JSON.stringify(credentials)) : "anonymous";
}

/**
 * Remembers each registry's challenge (so later requests authenticate up front) and caches bearer tokens per
 * (registry, credentials, scopes). Credentials are passed per call: one client serves many users.
 */
export class Authenticator {
  private readonly challenges = new Map<string, AuthChallenge>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<CachedToken>>();
  private readonly userAgent: string;

  constructor(options: { userAgent: string }) {
    this.userAgent = options.userAgent;
  }

  /** The Authorization header to send up front, if this registry's challenge is known. */
  async authorization(
    origin: string,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
  ): Promise<string | undefined> {
    const challenge = this.challenges.get(origin);
    if (!challenge) return undefined;
    return this.answer(origin, challenge, scopes, credentials, false);
  }

  /**
   * Learns the challenge of a 401 response and returns the header to retry with. Throws UnauthorizedError when
   * there is nothing to retry with (Basic challenge without credentials, unknown scheme).
   */
  async answerChallenge(
    origin: string,
    response: Response,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
  ): Promise<string> {
    const challenges = parseAuthChallenges(response.headers.get("www-authenticate") ?? "");
    const challenge = challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
    if (!challenge) throw new UnauthorizedError("unauthorized: authentication required");
    this.challenges.set(origin, challenge);
    const wanted = challenge.params.scope ? [...scopes, ...challenge.params.scope.split(" ")] : scopes;
    const header = await this.answer(origin, challenge, wanted, credentials, true);
    if (!header) throw new UnauthorizedError("unauthorized: authentication required");
    return header;
  }

  /**
   * Checks credentials against a registry (docker login): returns the refresh token the token server issued, if any.
   * Throws UnauthorizedError when they are refused.
   */
  async login(origin: string, challengeResponse: Response, credentials: RegistryCredentials): Promise<{ identityToken?: string }> {
    const challenges = parseAuthChallenges(challengeResponse.headers.get("www-authenticate") ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer");
    if (bearer) {
      this.challenges.set(origin, bearer);
      const response = await this.requestToken(bearer, [], credentials, true);
      return response.refresh_token ? { identityToken: response.refresh_token } : {};
    }
    const basic = challenges.find((c) => c.scheme === "basic");
    if (!basic) throw new UnauthorizedError("unauthorized: authentication required");
    this.challenges.set(origin, basic);
    return {};
  }

  private async answer(
    origin: string,
    challenge: AuthChallenge,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
    refresh: boolean,
  ): Promise<string | undefined> {
    if (challenge.scheme === "basic") {
      return credentials && "username" in credentials
        ? basicHeader(credentials.username, credentials.password)
        : undefined;
    }
    if (challenge.scheme !== "bearer") return undefined;
    if (credentials && "registrytoken" in credentials) return `Bearer ${credentials.registrytoken}`;
    const merged = mergeScopes(scopes);
    const key = `${origin} ${challenge.params.realm} ${credentialsKey(credentials)} ${merged.join(" ")}`;
    const cached = this.tokens.get(key);
    if (cached && !refresh && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
    // Parallel blob downloads all start by asking for the same token: ask the token server once.
    let pending = this.pendingTokens.get(key);
    if (!pending) {
      pending = this.fetchToken(challenge, merged, credentials).finally(() => this.pendingTokens.delete(key));
      this.pendingTokens.set(key, pending);
    }
    const fresh = await pending;
    this.tokens.set(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  private async fetchToken(
    challenge: AuthChallenge,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
  ): Promise<CachedToken> {
    const response = await this.requestToken(challenge, scopes, credentials, false);
    const token = response.token ?? response.access_token;
    if (!token) throw new SystemError(`token server ${challenge.params.realm} returned no token`);
    const lifetime = Math.max(response.expires_in ?? 0, MIN_TOKEN_LIFETIME_S) * 1000;
    const issuedAt = response.issued_at ? Date.parse(response.issued_at) : Number.NaN;
    // Renew a little early so a token does not expire between the check and its use.
    return { token, expiresAt: (Number.isNaN(issuedAt) ? Date.now() : issuedAt) + lifetime - 5000 };
  }

  private async requestToken(
    challenge: AuthChallenge,
    scopes: readonly string[],
    credentials: RegistryCredentials | undefined,
    offline: boolean,
  ): Promise<TokenResponse> {
    const realm = challenge.params.realm;
    if (!realm || !/^https?:\/\//.test(realm)) {
      throw new SystemError(`registry sent a bearer challenge without a valid realm: ${JSON.stringify(realm)}`);
    }
    const service = challenge.params.service;
    const headers: Record<string, string> = { "User-Agent": this.userAgent };
    let response: Response;
    if (credentials && "identitytoken" in credentials) {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credentials.identitytoken,
        client_id: CLIENT_ID,
      });
      if (service) form.set("service", service);
      if (scopes.length > 0) form.set("scope", scopes.join(" "));
      if (offline) form.set("access_type", "offline");
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      response = await send(realm, { method: "POST", headers, body: form.toString() });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set("service", service);
      for (const scope of scopes) url.searchParams.append("scope", scope);
      if (credentials && "username" in credentials) {
        url.searchParams.set("account", credentials.username);
        headers.Authorization = basicHeader(credentials.username, credentials.password);
      }
      if (offline) {
        url.searchParams.set("offline_token", "true");
        url.searchParams.set("client_id", CLIENT_ID);
      }
      response = await send(url.toString(), { method: "GET", headers });
    }
    const body = await response.text();
    if (response.status === 401 || response.status === 403) {
      throw new UnauthorizedError(`unauthorized: ${tokenErrorDetail(body) ?? "incorrect username or password"}`);
    }
    if (!response.ok) {
      throw new SystemError(`token server ${realm} answered ${response.status} ${response.statusText}`);
    }
    return parseTokenResponse(body, realm);
  }
}

function parseTokenResponse(body: string, realm: string): TokenResponse {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new SystemError(`token server ${realm} returned invalid JSON`, { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null) throw new SystemError(`token server ${realm} returned no token`);
  const expiresIn: unknown = (parsed as Record<string, unknown>).expires_in;
  return {
    token: stringField(parsed, "token"),
    access_token: stringField(parsed, "access_token"),
    expires_in: typeof expiresIn === "number" ? expiresIn : undefined,
    issued_at: stringField(parsed, "issued_at"),
    refresh_token: stringField(parsed, "refresh_token"),
  };
}

/** The reason a token server gives for refusing (`{"details": …}` on Docker Hub, registry errors elsewhere). */
function tokenErrorDetail(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const details = stringField(parsed, "details") ?? stringField(parsed, "error_description") ?? stringField(parsed, "error");
    if (details) return details;
    if ("errors" in parsed && Array.isArray(parsed.errors)) {
      const first: unknown = parsed.errors[0];
      if (typeof first === "object" && first !== null) return stringField(first, "message");
    }
  } catch {
    // not JSON: fall through to the generic wording
  }
  return undefined;
}
