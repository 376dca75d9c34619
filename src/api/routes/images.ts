import { InvalidParameterError, messageOf } from "../../errors";
import { credentialsFromAuthConfig, parseAuthConfig } from "../../registry/auth";
import type { Engine } from "../../engine/engine";
import { ProgressWriter } from "../../images/progress";
import type { ImageService } from "../../images/service";
import { newRouter, type ApiHono } from "../app";
import { checkFilterKeys, parseFilters } from "../filters";
import { jsonLinesResponse } from "../stream";

const bool = (v: string | undefined) => v === "1" || v === "true" || v === "True";

/** Image names contain slashes (`127.0.0.1:5000/x/y:tag`): the routes capture everything up to the suffix. */
export function imageRoutes(engine: Engine, images: ImageService): ApiHono {
  const r = newRouter();

  r.post("/images/create", async (c) => {
    const fromImage = c.req.query("fromImage");
    const fromSrc = c.req.query("fromSrc");
    if (!fromImage && !fromSrc) throw new InvalidParameterError("fromImage or fromSrc is required");
    if (!fromImage) {
      const body = c.req.raw.body ?? emptyBody();
      const args = { source: fromSrc!, repo: c.req.query("repo") || undefined, tag: c.req.query("tag") || undefined, changes: c.req.queries("changes") ?? [], message: c.req.query("message") || undefined, platform: c.req.query("platform") || undefined };
      return jsonLinesResponse(async (out) => {
        await engine.run("image.import", { ...args, body }, { stdout: out });
      });
    }
    const tag = c.req.query("tag");
    const reference = tag ? (tag.startsWith("sha256:") ? `${fromImage}@${tag}` : `${fromImage}:${tag}`) : fromImage;
    const credentials = images.credentialsFrom(c.req.header("X-Registry-Auth"));
    const platform = c.req.query("platform") || undefined;
    const abort = new AbortController();
    return jsonLinesResponse(async (out) => {
      await engine.run("pull", { reference, platform, credentials }, { stdout: out, signal: abort.signal });
    });
  });

  r.get("/images/json", (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["dangling", "label", "reference", "before", "since", "until"]);
    let list = images.graph.list();
    const dangling = filters.get("dangling");
    if (dangling) list = list.filter((i) => (i.repoTags.length === 0) === bool(dangling[0]));
    const labels = filters.get("label");
    if (labels)
      list = list.filter((i) =>
        labels.every((l) => {
          const [k, v] = l.split("=", 2) as [string, string | undefined];
          const have = i.config.config?.Labels ?? {};
          return v === undefined ? k in have : have[k] === v;
        }),
      );
    const refs = filters.get("reference");
    if (refs) {
      const patterns = refs.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, ".")}$`));
      list = list.filter((i) => i.repoTags.some((t) => patterns.some((re) => re.test(t) || re.test(t.replace(/:[^:/]+$/, "")))));
    }
    for (const key of ["before", "since"] as const) {
      const v = filters.get(key)?.[0];
      if (!v) continue;
      const pivot = images.resolve(v);
      list = list.filter((i) => (key === "before" ? i.created < pivot.created : i.created > pivot.created));
    }
    if (!bool(c.req.query("all"))) list = list.filter((i) => i.repoTags.length > 0 || !images.graph.children(i.id).length);
    return c.json(list.map((i) => images.summary(i)));
  });

  r.post("/images/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    const dangling = filters.get("dangling")?.[0];
    return c.json(await engine.run("image.prune", { danglingOnly: dangling === undefined ? true : bool(dangling) }));
  });

  r.get("/images/get", (c) => tarResponse(images.save(c.req.queries("names") ?? [])));
  r.get("/images/:name{.+}/get", (c) => tarResponse(images.save([c.req.param("name")])));

  r.post("/images/load", async (c) => {
    const body = c.req.raw.body ?? emptyBody();
    const quiet = c.req.query("quiet") === undefined ? true : bool(c.req.query("quiet"));
    const platform = c.req.query("platform") || undefined;
    return jsonLinesResponse(async (out) => {
      await engine.run("image.load", { body, quiet, platform }, { stdout: out });
    });
  });

  r.post("/images/:name{.+}/push", async (c) => {
    const credentials = await pushCredentials(images, c.req.header("X-Registry-Auth"), c.req.raw);
    const args = { name: c.req.param("name"), tag: c.req.query("tag") || undefined, credentials };
    return jsonLinesResponse(async (out) => {
      await engine.run("push", args, { stdout: out });
    });
  });

  r.get("/images/search", async (c) => {
    const term = c.req.query("term");
    if (!term) throw new InvalidParameterError("term is required");
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["stars", "is-official", "is-automated"]);
    const limit = c.req.query("limit") ? Number(c.req.query("limit")) : undefined;
    if (limit !== undefined && !Number.isInteger(limit)) throw new InvalidParameterError(`invalid limit ${c.req.query("limit")}`);
    return c.json(await images.search({ term, limit, filters, credentials: images.credentialsFrom(c.req.header("X-Registry-Auth")) }));
  });

  r.post("/auth", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new InvalidParameterError("invalid JSON body: expected the registry credentials");
    }
    return c.json(await images.login(body));
  });

  r.get("/distribution/:name{.+}/json", async (c) => c.json(await images.distribution(c.req.param("name"), images.credentialsFrom(c.req.header("X-Registry-Auth")))));

  r.get("/images/:name{.+}/json", (c) => c.json(images.inspect(images.resolve(c.req.param("name")))));
  r.get("/images/:name{.+}/history", (c) => c.json(images.history(images.resolve(c.req.param("name")))));
  r.post("/images/:name{.+}/tag", async (c) => {
    const repo = c.req.query("repo");
    if (!repo) throw new InvalidParameterError("repository name (repo) is required");
    await engine.run("image.tag", { source: c.req.param("name"), repo, tag: c.req.query("tag") || undefined });
    return new Response(null, { status: 201 });
  });
  r.delete("/images/:name{.+}", async (c) =>
    c.json(await engine.run("image.remove", { name: c.req.param("name"), force: bool(c.req.query("force")), noprune: bool(c.req.query("noprune")) })),
  );
  return r;
}

function tarResponse(stream: ReadableStream<Uint8Array>): Response {
  return new Response(stream, { status: 200, headers: { "Content-Type": "application/x-tar" } });
}

function emptyBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.close() });
}

/**
 * Push requires credentials in X-Registry-Auth (`{}` for anonymous); dockerd still accepts the old form, an
 * AuthConfig JSON body, and refuses a request with neither in these words.
 */
async function pushCredentials(images: ImageService, header: string | undefined, request: Request) {
  if (header) return images.credentialsFrom(header);
  const text = await request.text();
  try {
    return credentialsFromAuthConfig(parseAuthConfig(JSON.parse(text)));
  } catch (err) {
    throw new InvalidParameterError(`Bad parameters and missing X-Registry-Auth: ${text.trim() ? messageOf(err) : "EOF"}`);
  }
}

export { ProgressWriter };
