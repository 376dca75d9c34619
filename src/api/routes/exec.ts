/** `POST /containers/{id}/exec` and `/exec/{id}/...`: docker exec. */
import type { ExecCreateRequest, ExecService } from "../../containers/exec";
import { streamContentType } from "../../containers/io/stdcopy";
import type { Engine } from "../../engine/engine";
import { InvalidParameterError, messageOf } from "../../errors";
import { log } from "../../util/log";
import { newRouter, type ApiHono } from "../app";
import { readJson } from "../json";

interface ExecStartRequest {
  Detach?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
}

export function execRoutes(engine: Engine, execs: ExecService): ApiHono {
  const r = newRouter();

  r.post("/containers/:id/exec", async (c) => {
    const body = await readJson<ExecCreateRequest>(c.req.raw);
    return c.json(await engine.run("exec.create", { container: c.req.param("id"), body }), 201);
  });

  r.post("/exec/:id/start", async (c) => {
    const id = c.req.param("id");
    const body = await readJson<ExecStartRequest>(c.req.raw);
    const instance = execs.checkStartable(id);
    if (body.Detach) {
      await engine.run("exec.start", { id, tty: body.Tty, consoleSize: body.ConsoleSize, conn: null });
      return c.body(null, 200);
    }
    const tty = body.Tty ?? instance.request.Tty ?? false;
    const conn = c.env.hijack(streamContentType(tty, c.env.apiVersion));
    void engine.run("exec.start", { id, tty, consoleSize: body.ConsoleSize, conn }).catch((err) => {
      log.debug("exec start failed", { id, error: messageOf(err) });
      void conn.end();
    });
    return new Response(null);
  });

  r.post("/exec/:id/resize", async (c) => {
    const height = Number(c.req.query("h") ?? 0);
    const width = Number(c.req.query("w") ?? 0);
    if (!Number.isInteger(height) || !Number.isInteger(width)) throw new InvalidParameterError("invalid resize dimensions");
    await engine.run("exec.resize", { id: c.req.param("id"), height, width });
    return c.body(null, 200);
  });

  r.get("/exec/:id/json", (c) => c.json(execs.inspect(c.req.param("id"))));

  return r;
}
