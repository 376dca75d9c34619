import { InvalidParameterError } from "../../errors";
import type { NetworkService } from "../../networks/service";
import { newRouter, type ApiHono } from "../app";
import { checkFilterKeys, parseFilters } from "../filters";
import { readJson } from "../json";

export function networkRoutes(networks: NetworkService): ApiHono {
  const r = newRouter();
  r.get("/networks", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["name", "id", "driver", "label", "type", "scope", "dangling"]);
    let list = networks.store.all();
    const name = filters.get("name");
    if (name) list = list.filter((n) => name.some((v) => n.name.includes(v)));
    const id = filters.get("id");
    if (id) list = list.filter((n) => id.some((v) => n.id.startsWith(v)));
    const driver = filters.get("driver");
    if (driver) list = list.filter((n) => driver.includes(n.driver));
    const type = filters.get("type");
    if (type) list = list.filter((n) => type.some((t) => (t === "builtin") === ["bridge", "host", "none"].includes(n.name)));
    const label = filters.get("label");
    if (label)
      list = list.filter((n) => {
        const labels = JSON.parse(n.labels) as Record<string, string>;
        return label.every((l) => {
          const [k, v] = l.split("=", 2) as [string, string | undefined];
          return v === undefined ? k in labels : labels[k] === v;
        });
      });
    return c.json(list.map((n) => networks.describe(n, false)));
  });
  r.get("/networks/:id", (c) => c.json(networks.describe(networks.resolve(c.req.param("id")), true)));
  r.post("/networks/create", async (c) => c.json(await networks.create(await readJson(c.req.raw)), 201));
  r.delete("/networks/:id", async (c) => {
    await networks.remove(c.req.param("id"));
    return new Response(null, { status: 204 });
  });
  r.post("/networks/prune", async (c) => c.json({ NetworksDeleted: await networks.prune() }));
  r.post("/networks/:id/connect", async (c) => {
    const body = await readJson<{ Container?: string; EndpointConfig?: { IPAMConfig?: { IPv4Address?: string }; Aliases?: string[] } }>(c.req.raw);
    if (!body.Container) throw new InvalidParameterError("container is required");
    await networks.connect(c.req.param("id"), body.Container, body.EndpointConfig ?? {});
    return new Response(null, { status: 200 });
  });
  r.post("/networks/:id/disconnect", async (c) => {
    const body = await readJson<{ Container?: string }>(c.req.raw);
    if (!body.Container) throw new InvalidParameterError("container is required");
    await networks.disconnect(c.req.param("id"), body.Container);
    return new Response(null, { status: 200 });
  });
  return r;
}
