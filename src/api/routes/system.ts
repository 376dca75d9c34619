import { stream } from "hono/streaming";
import { InvalidParameterError } from "../../errors";
import type { EngineEvent, EventBus } from "../../engine/events";
import { newRouter, type ApiHono } from "../app";
import { parseFilters, type Filters } from "../filters";

export interface SystemBackend {
  version(): Record<string, unknown>;
  info(): Promise<Record<string, unknown>>;
  readonly events: EventBus;
  diskUsage(types: string[]): Promise<Record<string, unknown>>;
}

export const PING_HEADERS: Record<string, string> = {
  "Content-Type": "text/plain; charset=utf-8",
  "Cache-Control": "no-cache, no-store, must-revalidate",
  Pragma: "no-cache",
  "Builder-Version": "1",
  Swarm: "inactive",
};

export function systemRoutes(backend: SystemBackend): ApiHono {
  const r = newRouter();
  r.get("/_ping", () => new Response("OK", { headers: PING_HEADERS }));
  r.on("HEAD", "/_ping", () => new Response(null, { headers: { ...PING_HEADERS, "Content-Length": "2" } }));
  r.get("/version", (c) => c.json(backend.version()));
  r.get("/info", async (c) => c.json(await backend.info()));
  r.get("/system/df", async (c) => c.json(await backend.diskUsage(c.req.queries("type") ?? [])));

  r.get("/events", (c) => {
    const since = parseTime(c.req.query("since"), "since");
    const until = parseTime(c.req.query("until"), "until");
    const filters = parseFilters(c.req.query("filters"));
    const nowNs = Date.now() * 1e6;
    c.header("Content-Type", "application/json");
    return stream(c, async (s) => {
      const send = (e: EngineEvent) => (matchesEvent(e, filters) ? s.write(JSON.stringify(e) + "\n") : Promise.resolve(s));
      let queue = Promise.resolve<unknown>(undefined);
      const unsubscribe = until !== undefined && until <= nowNs ? () => {} : backend.events.subscribe((e) => {
        if (until !== undefined && e.timeNano > until) return;
        queue = queue.then(() => send(e));
      });
      try {
        if (since !== undefined) for (const e of backend.events.since(since)) if (until === undefined || e.timeNano <= until) await send(e);
        if (until !== undefined) {
          const wait = until - Date.now() * 1e6;
          if (wait > 0) await Promise.race([Bun.sleep(wait / 1e6), new Promise((r) => s.onAbort(() => r(null)))]);
        } else {
          await new Promise<void>((resolve) => s.onAbort(resolve));
        }
        await queue;
      } finally {
        unsubscribe();
      }
    });
  });
  return r;
}

/** docker accepts Unix seconds (with optional fraction) or RFC 3339 for since/until; we return ns. */
function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1e9);
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new InvalidParameterError(`invalid value for ${name}: ${value}`);
  return t * 1e6;
}

function matchesEvent(e: EngineEvent, f: Filters): boolean {
  const want = (key: string, ...values: (string | undefined)[]) => {
    const allowed = f.get(key);
    return !allowed || values.some((v) => v !== undefined && allowed.includes(v));
  };
  return (
    want("type", e.Type) &&
    // `health_status: healthy`, `exec_start: sh` match the filter `event=health_status` / `event=exec_start`.
    want("event", e.Action, e.Action.split(":")[0]) &&
    want(e.Type, e.Actor.ID, e.Actor.Attributes.name) &&
    want("container", e.Type === "container" ? e.Actor.ID : undefined, e.Type === "container" ? e.Actor.Attributes.name : undefined) &&
    want("image", e.Actor.Attributes.image, e.Type === "image" ? e.Actor.ID : undefined) &&
    (!f.get("label") || f.get("label")!.every((l) => {
      const [k, v] = l.split("=", 2) as [string, string | undefined];
      return v === undefined ? k in e.Actor.Attributes : e.Actor.Attributes[k] === v;
    }))
  );
}
