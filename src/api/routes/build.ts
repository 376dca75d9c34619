import { InvalidParameterError, NotImplementedError } from "../../errors";
import type { Engine } from "../../engine/engine";
import { RunStepFailed, type BuildOptions } from "../../build/builder";
import { parseRegistryConfig } from "../../build/registry-config";
import { parseDuration } from "../../build/config-values";
import { formatReference, parseReference } from "../../registry/reference";
import { newRouter, type ApiHono } from "../app";
import { checkFilterKeys, parseFilters } from "../filters";
import { jsonLinesResponse } from "../stream";

const bool = (v: string | undefined) => v === "1" || v === "true" || v === "True";

/** A query parameter holding a JSON object of strings (`buildargs`, `labels`); null values only where allowed. */
function jsonMap<T extends string | null>(raw: string | undefined, name: string, allowNull: boolean): Record<string, T> {
  if (!raw) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidParameterError(`invalid ${name}: not JSON`);
  }
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new InvalidParameterError(`invalid ${name}: expected a JSON object`);
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string" && !(allowNull && v === null)) throw new InvalidParameterError(`invalid ${name}: the value of ${k} is not a string`);
  }
  return value as Record<string, T>;
}

/** `t=name[:tag]`, repeatable: each must be a valid reference without a digest. */
function tagsOf(raw: string[]): string[] {
  return raw.map((t) => {
    const ref = parseReference(t);
    if (ref.digest) throw new InvalidParameterError(`invalid tag ${t}: a tag cannot name a digest`);
    return formatReference(ref);
  });
}

/** `until` in a prune filter: a duration before now ("24h") or a timestamp. */
function untilOf(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  if (!Number.isNaN(at)) return at;
  return Date.now() - parseDuration(value) / 1e6;
}

/** `POST /build` (the classic builder, as `DOCKER_BUILDKIT=0 docker build` uses it) and `POST /build/prune`. */
export function buildRoutes(engine: Engine): ApiHono {
  const r = newRouter();

  r.post("/build", async (c) => {
    const q = (name: string) => c.req.query(name);
    if (q("version") === "2") throw new NotImplementedError("BuildKit builds (version=2) are not supported: use the classic builder (DOCKER_BUILDKIT=0)");
    if (q("remote")) throw new NotImplementedError("remote build contexts (git repositories, URLs) are not supported: send the context as a tar");
    const options: BuildOptions = {
      tags: tagsOf(c.req.queries("t") ?? []),
      buildArgs: jsonMap<string | null>(q("buildargs"), "buildargs", true),
      target: q("target") || undefined,
      noCache: bool(q("nocache")),
      pull: bool(q("pull")),
      rm: q("rm") === undefined ? true : bool(q("rm")),
      forceRm: bool(q("forcerm")),
      labels: jsonMap<string>(q("labels"), "labels", false),
      quiet: bool(q("q")),
      platform: q("platform") || undefined,
      networkMode: q("networkmode") || "default",
    };
    const registryConfig = parseRegistryConfig(c.req.header("X-Registry-Config"));
    const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (ctrl) => ctrl.close() });
    const args = { body, dockerfile: q("dockerfile") || undefined, options, registryConfig };
    return jsonLinesResponse(async (out) => {
      try {
        await engine.run("build", args, { stdout: out });
      } catch (err) {
        // docker's CLI exits with the failed command's status, carried in errorDetail.code.
        if (!(err instanceof RunStepFailed)) throw err;
        await out.write(`${JSON.stringify({ errorDetail: { code: err.code, message: err.message }, error: err.message })}\n`);
      }
    });
  });

  r.post("/build/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["until", "unused-for"]);
    const until = untilOf(filters.get("until")?.[0] ?? filters.get("unused-for")?.[0]);
    return c.json(await engine.run("build.prune", { all: bool(c.req.query("all")), until }));
  });
  return r;
}
