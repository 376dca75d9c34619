import { Hono } from "hono";
import { getPath } from "hono/utils/url";
import { messageOf, statusOf } from "../errors";
import { log } from "../util/log";
import { BUNKER_VERSION } from "../version";
import type { ConnectionEnv } from "./http/hijack";
import { API_VERSION, splitVersion } from "./version";

/** What every route handler gets in `c.env`: the connection (for hijack) and the negotiated API version. */
export interface ApiEnv extends ConnectionEnv {
  apiVersion: string;
}
export type ApiHono = Hono<{ Bindings: ApiEnv }>;

export function newRouter(): ApiHono {
  return new Hono<{ Bindings: ApiEnv }>();
}

export const COMMON_HEADERS: Record<string, string> = {
  "Api-Version": API_VERSION,
  Server: `Bunker/${BUNKER_VERSION} (linux)`,
  Ostype: "linux",
  "Docker-Experimental": "false",
};

/** Errors become `{"message": ...}` with the status their class carries — the only such mapping. */
export function errorResponse(err: unknown): Response {
  const status = statusOf(err);
  if (status === 500) log.error("request failed", { error: messageOf(err), stack: err instanceof Error ? err.stack : undefined });
  if (status === 304) return new Response(null, { status });
  return new Response(JSON.stringify({ message: messageOf(err) }), { status, headers: { "Content-Type": "application/json" } });
}

/**
 * The API application: strips and checks the `/vX.Y` prefix, routes to the resource routers, adds the
 * headers every docker response carries.
 */
export function createApp(routers: ApiHono[]): (request: Request, env: ConnectionEnv) => Promise<Response> {
  // Routes match the unversioned path; the request itself keeps its URL (rebuilding it would cost a Request per call).
  const app = new Hono<{ Bindings: ApiEnv }>({ getPath: (request) => splitVersion(getPath(request)).path });
  for (const r of routers) app.route("/", r);
  app.notFound(() => new Response(JSON.stringify({ message: "page not found" }), { status: 404, headers: { "Content-Type": "application/json" } }));
  app.onError((err) => errorResponse(err));

  return async (request, env) => {
    let response: Response;
    try {
      const path = getPath(request);
      log.debug("request", { method: request.method, path });
      // Hono answers HEAD by running the GET route and dropping its body unread, which would leave a streaming
      // body (logs, image export) producing; as a GET, the connection cancels the body it does not send.
      if (request.method === "HEAD") request = new Request(request.url, { method: "GET", headers: request.headers });
      response = await app.fetch(request, { ...env, apiVersion: splitVersion(path).version });
    } catch (err) {
      response = errorResponse(err);
    }
    for (const [k, v] of Object.entries(COMMON_HEADERS)) if (!response.headers.has(k)) response.headers.set(k, v);
    return response;
  };
}
