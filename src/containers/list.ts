/** `GET /containers/json`: which containers to show (all, limit, filters), newest first. */
import { checkFilterKeys, type Filters } from "../api/filters";
import { InvalidParameterError } from "../errors";
import type { MountPoint } from "../volumes/mount-spec";
import type { ContainerRecord } from "./types";
import { renderSummary, summaryJson, type RenderedSummary, type ViewContext } from "./views";

export const LIST_FILTERS = ["status", "name", "label", "id", "ancestor", "exited", "before", "since", "network", "volume", "health"] as const;
const HEALTH_STATES = ["starting", "healthy", "unhealthy", "none"];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

export interface ListQuery {
  all: boolean;
  limit: number;
  filters: Filters;
}

export interface ListContext {
  /** Image IDs a name or ID in an `ancestor` filter refers to (empty when it names no image). */
  imageIdsOf(ref: string): string[];
  /** A container by name or id, for `before`/`since`. */
  find(ref: string): ContainerRecord | null;
  /** The container's mounts as inspect shows them, for `volume`. */
  mountsOf(c: ContainerRecord): MountPoint[];
}

function labelMatches(labels: Record<string, string>, spec: string): boolean {
  const eq = spec.indexOf("=");
  if (eq < 0) return spec in labels;
  return labels[spec.slice(0, eq)] === spec.slice(eq + 1);
}

/** A running container (paused ones included) is listed without `all`. */
export function isActive(c: ContainerRecord): boolean {
  return c.state.Running || c.state.Restarting;
}

export function selectContainers(records: readonly ContainerRecord[], q: ListQuery, ctx: ListContext): ContainerRecord[] {
  checkFilterKeys(q.filters, LIST_FILTERS);
  const f = q.filters;
  for (const s of f.get("status") ?? []) if (!STATUSES.includes(s)) throw new InvalidParameterError(`invalid filter 'status=${s}'`);
  for (const h of f.get("health") ?? []) if (!HEALTH_STATES.includes(h)) throw new InvalidParameterError(`Unrecognised filter value for health: ${h}`);
  const exitCodes = (f.get("exited") ?? []).map((v) => {
    if (!/^-?\d+$/.test(v)) throw new InvalidParameterError(`invalid filter 'exited=${v}'`);
    return Number(v);
  });
  const ancestors = new Set((f.get("ancestor") ?? []).flatMap((a) => ctx.imageIdsOf(a)));
  const edge = (key: "before" | "since") => {
    const refs = f.get(key) ?? [];
    if (refs.length === 0) return undefined;
    const c = ctx.find(refs[0]!);
    if (!c) throw new InvalidParameterError(`No such container: ${refs[0]}`);
    return c.created;
  };
  const names = (f.get("name") ?? []).map((n) => {
    try {
      return new RegExp(n.replace(/^\//, ""));
    } catch {
      throw new InvalidParameterError(`invalid filter 'name=${n}'`);
    }
  });
  const before = edge("before");
  const since = edge("since");
  const showAll = q.all || q.limit > 0 || f.has("status") || f.has("exited") || before !== undefined || since !== undefined;

  const out = records.filter((c) => {
    if (!showAll && !isActive(c)) return false;
    const any = (key: string, test: (v: string) => boolean) => {
      const values = f.get(key);
      return !values || values.some(test);
    };
    return (
      any("status", (s) => s === c.state.Status) &&
      (names.length === 0 || names.some((re) => re.test(c.name))) &&
      (f.get("label") ?? []).every((l) => labelMatches(c.config.Labels, l)) &&
      any("id", (p) => c.id.startsWith(p)) &&
      (!f.has("ancestor") || ancestors.has(c.imageId) || (f.get("ancestor") ?? []).includes(c.config.Image)) &&
      (exitCodes.length === 0 || (!isActive(c) && c.state.Status !== "created" && exitCodes.includes(c.state.ExitCode))) &&
      any("network", (n) => n === c.hostConfig.NetworkMode || n in c.networkSettings.Networks) &&
      any("volume", (v) => ctx.mountsOf(c).some((m) => m.Name === v || m.Source === v || m.Destination === v)) &&
      any("health", (h) => h === (c.state.Health?.Status ?? "none")) &&
      (before === undefined || c.created < before) &&
      (since === undefined || c.created > since)
    );
  });
  return q.limit > 0 ? out.slice(0, q.limit) : out;
}

/**
 * The list's response body. Each record's summary is rendered once and kept while that record object lives: the
 * store's records (`ContainerStore.snapshot`) are frozen and replaced on every write (state, name, networks), so a
 * stale rendering is never found.
 */
export class SummaryList {
  private readonly rendered = new WeakMap<ContainerRecord, RenderedSummary>();

  constructor(private readonly mountsOf: (c: ContainerRecord) => MountPoint[]) {}

  /** A JSON array of the containers' summaries; `sizesOf` adds SizeRw/SizeRootFs (`size=1`). */
  async json(records: readonly ContainerRecord[], sizesOf?: (c: ContainerRecord) => Promise<NonNullable<ViewContext["sizes"]>>): Promise<string> {
    const nowMs = Date.now();
    const sizes = sizesOf ? await Promise.all(records.map(sizesOf)) : [];
    const entries = records.map((c, i) => summaryJson(c, this.renderedOf(c), sizes[i], nowMs));
    return `[${entries.join(",")}]`;
  }

  /** Only a frozen record (the store's own) can be rendered once: any other may change after this call. */
  private renderedOf(c: ContainerRecord): RenderedSummary {
    let rendered = this.rendered.get(c);
    if (!rendered) {
      rendered = renderSummary(c, this.mountsOf(c));
      if (Object.isFrozen(c)) this.rendered.set(c, rendered);
    }
    return rendered;
  }
}
