import { InvalidParameterError, SystemError, UnauthorizedError } from "../errors";
import type { RegistryCredentials } from "../registry/auth";
import type { RegistryClient } from "../registry/client";
import { resolveEndpoints } from "../registry/endpoint";
import { send } from "../registry/http";
import { DEFAULT_DOMAIN } from "../registry/reference";

/** One row of `docker search`, in the Engine API's shape. */
export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export interface SearchArgs {
  /** `busy`, or with a registry: `127.0.0.1:5000/busy`. */
  term: string;
  limit?: number;
  /** `stars`, `is-official`, `is-automated`. */
  filters: Map<string, string[]>;
  credentials?: RegistryCredentials;
  insecureRegistries: readonly string[];
  signal?: AbortSignal;
}

const DEFAULT_LIMIT = 25;
/** Docker Hub's search API is on the index host, not the registry host. */
const HUB_INDEX = "https://index.docker.io";

/** The registry a search term names (a first component with `.` or `:`, or `localhost`), and the term proper. */
export function splitSearchTerm(term: string): { domain: string; query: string } {
  const slash = term.indexOf("/");
  const first = term.slice(0, slash);
  if (slash > 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    const domain = first === "index.docker.io" ? DEFAULT_DOMAIN : first;
    return { domain, query: term.slice(slash + 1) };
  }
  return { domain: DEFAULT_DOMAIN, query: term };
}

/**
 * `docker search`: the registry's v1 search API where it has one (Docker Hub), else its `/v2/_catalog` filtered
 * by the term (a plain distribution registry has no search API). A registry offering neither is an error.
 */
export async function searchImages(registry: RegistryClient, args: SearchArgs): Promise<SearchResult[]> {
  const limit = args.limit || DEFAULT_LIMIT;
  if (limit < 1 || limit > 100) throw new InvalidParameterError(`limit ${limit} is outside the range of [1, 100]`);
  const { domain, query } = splitSearchTerm(args.term.trim());
  if (!query) throw new InvalidParameterError("search term must not be empty");
  let results = await searchV1(domain, query, limit, args);
  if (!results) {
    try {
      const names = await registry.catalog(domain, { credentials: args.credentials, signal: args.signal });
      results = names
        .filter((name) => name.includes(query.toLowerCase()))
        .map((name) => ({ name: `${domain}/${name}`, description: "", star_count: 0, is_official: false, is_automated: false }));
    } catch (err) {
      const message = `Error searching ${domain}: the registry offers neither the v1 search API nor the v2 catalog: ${err instanceof Error ? err.message : String(err)}`;
      // Keep "unauthorized" an authorization error so the CLI can ask for a login.
      throw err instanceof UnauthorizedError ? new UnauthorizedError(message, { cause: err }) : new SystemError(message, { cause: err });
    }
  }
  return applyFilters(results, args.filters).slice(0, limit);
}

/** Results of the v1 search API, or null when the registry does not offer it. */
async function searchV1(domain: string, query: string, limit: number, args: SearchArgs): Promise<SearchResult[] | null> {
  const base = domain === DEFAULT_DOMAIN ? HUB_INDEX : resolveEndpoints(domain, "push", { insecureRegistries: args.insecureRegistries })[0]?.url;
  if (!base) return null;
  let response: Response;
  try {
    response = await send(`${base}/v1/search?${new URLSearchParams({ q: query, n: String(limit) })}`, { signal: args.signal });
  } catch {
    return null;
  }
  if (!response.ok) {
    await response.body?.cancel();
    return null;
  }
  try {
    const body = (await response.json()) as { results?: unknown };
    if (!Array.isArray(body.results)) return null;
    return body.results.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null && typeof (r as { name?: unknown }).name === "string").map((r) => ({
      name: r.name as string,
      description: typeof r.description === "string" ? r.description : "",
      star_count: typeof r.star_count === "number" ? r.star_count : 0,
      is_official: r.is_official === true,
      is_automated: r.is_automated === true,
    }));
  } catch {
    return null;
  }
}

function applyFilters(results: SearchResult[], filters: Map<string, string[]>): SearchResult[] {
  let out = results;
  for (const [key, values] of filters) {
    const value = values.at(-1) ?? "";
    if (key === "stars") {
      const min = Number(value);
      if (!Number.isInteger(min)) throw new InvalidParameterError(`invalid filter 'stars=${value}'`);
      out = out.filter((r) => r.star_count >= min);
    } else if (key === "is-official" || key === "is-automated") {
      if (!["true", "false", "1", "0"].includes(value)) throw new InvalidParameterError(`invalid filter '${key}=${value}'`);
      const want = value === "true" || value === "1";
      out = out.filter((r) => (key === "is-official" ? r.is_official : r.is_automated) === want);
    } else {
      throw new InvalidParameterError(`invalid filter '${key}'`);
    }
  }
  return out;
}
