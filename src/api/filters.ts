import { InvalidParameterError } from "../errors";

/** Docker's `filters` query parameter: JSON `{"key":["v1","v2"]}` or the legacy `{"key":{"v1":true}}`. */
export type Filters = Map<string, string[]>;

export function parseFilters(raw: string | undefined): Filters {
  const out: Filters = new Map();
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new InvalidParameterError(`invalid filter: ${raw}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new InvalidParameterError(`invalid filter: ${raw}`);
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(value)) out.set(key, value.map(String));
    else if (value && typeof value === "object") out.set(key, Object.entries(value).filter(([, on]) => on).map(([v]) => v));
    else throw new InvalidParameterError(`invalid filter: ${raw}`);
  }
  return out;
}

/** Reject filter keys an endpoint does not know, like dockerd does. */
export function checkFilterKeys(filters: Filters, allowed: readonly string[]): void {
  for (const key of filters.keys()) if (!allowed.includes(key)) throw new InvalidParameterError(`invalid filter '${key}'`);
}
