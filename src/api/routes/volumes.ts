import { InvalidParameterError } from "../../errors";
import type { CreateVolumeRequest, VolumeService } from "../../volumes/service";
import { newRouter, type ApiHono } from "../app";
import { checkFilterKeys, parseFilters, type Filters } from "../filters";
import { readJson } from "../json";
import { compareApiVersions } from "../version";

/** `true`/`1` or `false`/`0`, as docker's boolean filters accept. */
function booleanFilter(filters: Filters, key: string): boolean | undefined {
  const values = filters.get(key);
  if (!values || values.length === 0) return undefined;
  const value = values.at(-1)!.toLowerCase();
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new InvalidParameterError(`invalid filter '${key}=${values.at(-1)}'`);
}

export function volumeRoutes(volumes: VolumeService): ApiHono {
  const r = newRouter();
  r.get("/volumes", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["name", "driver", "label", "dangling"]);
    const list = volumes.list({ name: filters.get("name"), driver: filters.get("driver"), label: filters.get("label"), dangling: booleanFilter(filters, "dangling") });
    return c.json({ Volumes: list, Warnings: [] });
  });
  r.post("/volumes/create", async (c) => c.json(await volumes.create(await readJson<CreateVolumeRequest>(c.req.raw)), 201));
  r.get("/volumes/:name", (c) => c.json(volumes.inspect(c.req.param("name"))));
  r.delete("/volumes/:name", async (c) => {
    const force = c.req.query("force");
    await volumes.remove(c.req.param("name"), force === "1" || force === "true");
    return new Response(null, { status: 204 });
  });
  r.post("/volumes/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["label", "label!", "all"]);
    // Before API 1.42 prune removed every unused volume; the `all` filter came with the anonymous-only default.
    const all = booleanFilter(filters, "all") ?? compareApiVersions(c.env.apiVersion, "1.42") < 0;
    return c.json(await volumes.prune({ all, label: filters.get("label"), notLabel: filters.get("label!") }));
  });
  return r;
}
