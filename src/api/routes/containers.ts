/** `/containers/...`: the container endpoints docker clients use. State changes run as engine jobs. */
import type { CgroupManager } from "../../../drivers/exec/cgroups";
import { streamContentType } from "../../containers/io/stdcopy";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "../../containers/io/detach-keys";
import type { CreateRequest } from "../../containers/create-config";
import type { ExecService } from "../../containers/exec";
import type { CommitRequest, ContainerFiles } from "../../containers/files";
import { encodePathStat } from "../../archive/copy";
import { selectContainers, SummaryList } from "../../containers/list";
import { logStream } from "../../containers/logs/follow";
import { rotationOf } from "../../containers/logs/options";
import type { ContainerService } from "../../containers/service";
import { sample, statsView, type StatsSample } from "../../containers/stats";
import { parseTimestampNs } from "../../containers/time";
import { top } from "../../containers/top";
import type { ContainerRecord } from "../../containers/types";
import type { UpdateRequest } from "../../containers/update";
import { inspectView } from "../../containers/views";
import type { Engine } from "../../engine/engine";
import { ConflictError, InvalidParameterError, NotImplementedError, messageOf } from "../../errors";
import type { ImageLookup } from "../../images/types";
import { log } from "../../util/log";
import { newRouter, type ApiHono } from "../app";
import { readJson } from "../json";
import { checkFilterKeys, parseFilters } from "../filters";

const bool = (v: string | undefined) => v === "1" || v === "true" || v === "True";

function intQuery(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^-?\d+$/.test(value)) throw new InvalidParameterError(`invalid value for ${name}: ${value}`);
  return Number(value);
}

function timeQuery(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === "" || value === "0") return undefined;
  const ns = parseTimestampNs(value);
  if (Number.isNaN(ns)) throw new InvalidParameterError(`invalid value for ${name}: ${value}`);
  return ns;
}

/** A body produced over time; an empty first chunk makes the front end send the headers at once. */
function streamingResponse(produce: (emit: (text: string | Uint8Array) => void, signal: AbortSignal) => Promise<void>, contentType = "application/json"): Response {
  const abort = new AbortController();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(0));
      const emit = (data: string | Uint8Array) => {
        try {
          controller.enqueue(typeof data === "string" ? Buffer.from(data) : data);
        } catch {}
      };
      void produce(emit, abort.signal)
        .catch((err) => log.debug("streamed response ended with an error", { error: messageOf(err) }))
        .finally(() => {
          try {
            controller.close();
          } catch {}
        });
    },
    cancel() {
      abort.abort();
    },
  });
  return new Response(body, { headers: { "Content-Type": contentType } });
}

const PATH_STAT_HEADER = "X-Docker-Container-Path-Stat";
/** How much of a refused upload is read before the connection is given up. */
const UNREAD_BODY_LIMIT = 64 * 1024 * 1024;

/** Read and drop up to `limit` bytes of a request body nobody consumed (or the rest of a partly read one). */
async function drain(body: ReadableStream<Uint8Array>, limit: number): Promise<void> {
  if (body.locked) return;
  let read = 0;
  try {
    for await (const chunk of body) {
      read += chunk.length;
      if (read > limit) return;
    }
  } catch {
    // The client went away: nothing to drain.
  }
}

export function containerRoutes(engine: Engine, containers: ContainerService, execs: ExecService, files: ContainerFiles, images: ImageLookup, cgroups: CgroupManager): ApiHono {
  const r = newRouter();
  const driverName = images.graphDriver.name === "overlay" ? "overlay2" : images.graphDriver.name;

  const sizes = (c: ContainerRecord) => containers.sizes(c);

  r.post("/containers/create", async (c) => {
    let body: CreateRequest;
    try {
      body = (await c.req.json()) as CreateRequest;
    } catch {
      throw new InvalidParameterError("invalid JSON in the request body");
    }
    if (!body || typeof body !== "object") throw new InvalidParameterError("config cannot be empty in order to create a container");
    const result = await engine.run("container.create", { body, name: c.req.query("name") || undefined });
    return c.json(result, 201);
  });

  const summaries = new SummaryList((ctr) => containers.mountPoints(ctr));
  r.get("/containers/json", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    const list = selectContainers(
      containers.store.snapshot(),
      { all: bool(c.req.query("all")), limit: intQuery(c.req.query("limit"), "limit") ?? -1, filters },
      {
        imageIdsOf: (ref) => {
          try {
            return [images.resolve(ref).id];
          } catch {
            return [];
          }
        },
        find: (ref) => containers.find(ref),
        mountsOf: (ctr) => containers.mountPoints(ctr),
      },
    );
    const body = await summaries.json(list, bool(c.req.query("size")) ? sizes : undefined);
    return c.body(body, 200, { "Content-Type": "application/json" });
  });

  r.post("/containers/prune", async (c) => {
    const filters = parseFilters(c.req.query("filters"));
    checkFilterKeys(filters, ["until", "label", "label!"]);
    const until = timeQuery(filters.get("until")?.[0], "until");
    const hasLabel = (ctr: ContainerRecord, spec: string) => {
      const [k, v] = spec.split("=", 2) as [string, string | undefined];
      return v === undefined ? k in ctr.config.Labels : ctr.config.Labels[k] === v;
    };
    const match = (ctr: ContainerRecord) =>
      (until === undefined || Date.parse(ctr.created) * 1e6 < until) &&
      (filters.get("label") ?? []).every((l) => hasLabel(ctr, l)) &&
      !(filters.get("label!") ?? []).some((l) => hasLabel(ctr, l));
    return c.json(await engine.run("container.prune", { match }));
  });

  r.get("/containers/:id/json", async (c) => {
    const ctr = containers.get(c.req.param("id"));
    return c.json(
      inspectView(ctr, {
        containerDir: containers.containerDir(ctr.id),
        logPath: containers.logPath(ctr.id),
        driver: driverName,
        execIds: execs.idsOf(ctr.id),
        mounts: containers.mountPoints(ctr),
        ...(bool(c.req.query("size")) ? { sizes: await sizes(ctr) } : {}),
      }),
    );
  });

  r.post("/containers/:id/start", async (c) => {
    await engine.run("container.start", { id: c.req.param("id") });
    return c.body(null, 204);
  });

  r.post("/containers/:id/stop", async (c) => {
    await engine.run("container.stop", { id: c.req.param("id"), timeout: intQuery(c.req.query("t"), "t"), signal: c.req.query("signal") || undefined });
    return c.body(null, 204);
  });

  r.post("/containers/:id/restart", async (c) => {
    await engine.run("container.restart", { id: c.req.param("id"), timeout: intQuery(c.req.query("t"), "t"), signal: c.req.query("signal") || undefined });
    return c.body(null, 204);
  });

  r.post("/containers/:id/kill", async (c) => {
    await engine.run("container.kill", { id: c.req.param("id"), signal: c.req.query("signal") || undefined });
    return c.body(null, 204);
  });

  r.post("/containers/:id/pause", async (c) => {
    await engine.run("container.pause", { id: c.req.param("id") });
    return c.body(null, 204);
  });

  r.post("/containers/:id/unpause", async (c) => {
    await engine.run("container.unpause", { id: c.req.param("id") });
    return c.body(null, 204);
  });

  r.post("/containers/:id/rename", async (c) => {
    await engine.run("container.rename", { id: c.req.param("id"), name: c.req.query("name") ?? "" });
    return c.body(null, 204);
  });

  r.post("/containers/:id/update", async (c) => {
    const body = await readJson<UpdateRequest>(c.req.raw);
    return c.json(await engine.run("container.update", { id: c.req.param("id"), body }));
  });

  r.post("/containers/:id/resize", async (c) => {
    const height = intQuery(c.req.query("h"), "h") ?? 0;
    const width = intQuery(c.req.query("w"), "w") ?? 0;
    await engine.run("container.resize", { id: c.req.param("id"), height, width });
    return c.body(null, 200);
  });

  r.delete("/containers/:id", async (c) => {
    if (bool(c.req.query("link"))) throw new InvalidParameterError("links are not supported");
    await engine.run("container.remove", { id: c.req.param("id"), force: bool(c.req.query("force")), volumes: bool(c.req.query("v")) });
    return c.body(null, 204);
  });

  r.post("/containers/:id/wait", (c) => {
    const ctr = containers.get(c.req.param("id"));
    const condition = c.req.query("condition") ?? "";
    if (!["", "not-running", "next-exit", "removed"].includes(condition)) throw new InvalidParameterError(`invalid condition: "${condition}"`);
    return streamingResponse(async (emit, signal) => {
      try {
        const result = await engine.run("container.wait", { id: ctr.id, condition }, { signal });
        emit(JSON.stringify(result) + "\n");
      } catch (err) {
        if (!signal.aborted) emit(JSON.stringify({ Error: { Message: messageOf(err) }, StatusCode: -1 }) + "\n");
      }
    });
  });

  r.post("/containers/:id/attach", (c) => {
    const ctr = containers.get(c.req.param("id"));
    const detachKeys = parseDetachKeys(c.req.query("detachKeys") || DEFAULT_DETACH_KEYS);
    const streams = { stdin: bool(c.req.query("stdin")), stdout: bool(c.req.query("stdout")), stderr: bool(c.req.query("stderr")) };
    const conn = c.env.hijack(streamContentType(ctr.config.Tty, c.env.apiVersion));
    void engine
      .run("container.attach", { id: ctr.id, conn, ...streams, logs: bool(c.req.query("logs")), stream: bool(c.req.query("stream")), detachKeys })
      .catch((err) => {
        log.debug("attach ended with an error", { id: ctr.id, error: messageOf(err) });
        void conn.end();
      });
    return new Response(null);
  });

  r.get("/containers/:id/logs", (c) => {
    const ctr = containers.get(c.req.param("id"));
    const stdout = bool(c.req.query("stdout"));
    const stderr = bool(c.req.query("stderr"));
    if (!stdout && !stderr) throw new InvalidParameterError("Bad parameters: you must choose at least one stream");
    if (ctr.hostConfig.LogConfig.Type !== "json-file") throw new NotImplementedError(`configured logging driver does not support reading`);
    const tailText = c.req.query("tail");
    const tail = tailText === undefined || tailText === "" || tailText === "all" ? undefined : intQuery(tailText, "tail");
    const query = { stdout, stderr, sinceNs: timeQuery(c.req.query("since"), "since"), untilNs: timeQuery(c.req.query("until"), "until"), ...(tail !== undefined && tail >= 0 ? { tail } : {}) };
    const follow = bool(c.req.query("follow"));
    const options = { path: containers.logPath(ctr.id), maxFiles: rotationOf(ctr.hostConfig.LogConfig.Config).maxFiles, runEnded: follow ? containers.runEnded(ctr.id) : null, query, follow, timestamps: bool(c.req.query("timestamps")), tty: ctr.config.Tty };
    return streamingResponse(async (emit, signal) => {
      for await (const chunk of logStream({ ...options, signal })) emit(chunk);
    }, streamContentType(ctr.config.Tty, c.env.apiVersion));
  });

  // Hono answers HEAD with the GET route (and drops the body): the stat alone, no archive holding the tree open.
  r.get("/containers/:id/archive", async (c) => {
    if (c.req.method === "HEAD") {
      const stat = await files.stat(c.req.param("id"), c.req.query("path") ?? "");
      return new Response(null, { headers: { "Content-Type": "application/x-tar", [PATH_STAT_HEADER]: encodePathStat(stat) } });
    }
    const { stat, tar } = await files.archive(c.req.param("id"), c.req.query("path") ?? "");
    return new Response(tar, { headers: { "Content-Type": "application/x-tar", [PATH_STAT_HEADER]: encodePathStat(stat) } });
  });

  r.put("/containers/:id/archive", async (c) => {
    const body = c.req.raw.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() });
    try {
      await engine.run("container.extract", {
        id: c.req.param("id"),
        path: c.req.query("path") ?? "",
        body,
        noOverwriteDirNonDir: bool(c.req.query("noOverwriteDirNonDir")),
        copyUIDGID: bool(c.req.query("copyUIDGID")),
      });
    } catch (err) {
      // Refused before the archive was read (404, 403): read what the client is still sending, so that it gets
      // to read the answer instead of failing on a closed connection (as Go's server drains a small body).
      await drain(body, UNREAD_BODY_LIMIT);
      throw err;
    }
    return c.body(null, 200);
  });

  r.get("/containers/:id/changes", async (c) => c.json(await files.changes(c.req.param("id"))));

  r.get("/containers/:id/export", async (c) => {
    const headers = { "Content-Type": "application/x-tar" };
    // A HEAD (answered by this route) must not start an export nobody will read.
    if (c.req.method === "HEAD") {
      containers.get(c.req.param("id"));
      return new Response(null, { headers });
    }
    return new Response(await files.export(c.req.param("id")), { headers });
  });

  r.post("/commit", async (c) => {
    const text = await c.req.text();
    let config: CommitRequest["config"] = null;
    if (text.trim() !== "") {
      try {
        config = JSON.parse(text) as CommitRequest["config"];
      } catch {
        throw new InvalidParameterError("invalid JSON in the request body");
      }
    }
    const pause = c.req.query("pause");
    const result = await engine.run("container.commit", {
      container: c.req.query("container") ?? "",
      repo: c.req.query("repo") || undefined,
      tag: c.req.query("tag") || undefined,
      comment: c.req.query("comment") || undefined,
      author: c.req.query("author") || undefined,
      pause: pause === undefined || pause === "" || bool(pause),
      changes: c.req.queries("changes") ?? [],
      config,
    });
    return c.json(result, 201);
  });

  r.get("/containers/:id/top", async (c) => {
    const ctr = containers.get(c.req.param("id"));
    if (!containers.activeRun(ctr.id)) throw new ConflictError(`Container ${ctr.id} is not running`);
    return c.json(await top(c.req.query("ps_args") ?? "", cgroups.pids(ctr.id)));
  });

  r.get("/containers/:id/stats", async (c) => {
    const ctr = containers.get(c.req.param("id"));
    const streaming = c.req.query("stream") === undefined || bool(c.req.query("stream"));
    const oneShot = bool(c.req.query("one-shot"));
    const run = containers.activeRun(ctr.id);
    if (!run) return c.json(statsView(ctr, null, null, null));
    if (!streaming) {
      const first = sample(cgroups, ctr.id);
      if (oneShot) return c.json(statsView(ctr, first, null, run.pid));
      await Bun.sleep(1000);
      if (!containers.activeRun(ctr.id)) return c.json(statsView(ctr, null, null, null));
      return c.json(statsView(ctr, sample(cgroups, ctr.id), first, run.pid));
    }
    return streamingResponse(async (emit, signal) => {
      let previous: StatsSample | null = null;
      while (!signal.aborted && containers.activeRun(ctr.id) === run) {
        const current = sample(cgroups, ctr.id);
        emit(JSON.stringify(statsView(ctr, current, previous, run.pid)) + "\n");
        previous = current;
        await Promise.race([Bun.sleep(1000), run.finished]);
      }
    });
  });

  return r;
}
