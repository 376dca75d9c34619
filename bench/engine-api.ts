/** Small helpers to drive an engine (ours or the peer) over its unix socket with the Docker API. */
import type { Engine } from "./types.ts";

export async function api(engine: Engine, method: string, path: string, body?: unknown): Promise<Response> {
  const res = await fetch(`http://engine/v1.41${path}`, {
    method,
    unix: engine.socket,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  } as RequestInit);
  if (res.status >= 400) throw new Error(`${method} ${path} on ${engine.name}: ${res.status} ${await res.text()}`);
  return res;
}

/** Pull through the engine and read the progress stream to its end; throws on an in-band error. */
export async function pull(engine: Engine, reference: string): Promise<void> {
  const [name, tag] = splitTag(reference);
  const res = await api(engine, "POST", `/images/create?fromImage=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`);
  const text = await res.text();
  const error = text.split("\n").find((l) => l.includes('"errorDetail"'));
  if (error) throw new Error(`pull ${reference} on ${engine.name}: ${error}`);
}

export async function removeImage(engine: Engine, reference: string): Promise<void> {
  const res = await fetch(`http://engine/v1.41/images/${reference}?force=1`, { method: "DELETE", unix: engine.socket } as RequestInit);
  await res.arrayBuffer();
}

function splitTag(reference: string): [string, string] {
  const slash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  return colon > slash ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, "latest"];
}

/** docker CLI run against an engine, timed; returns ms. */
export async function timedDockerRun(engine: Engine, args: string[]): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(["/usr/local/bin/docker", ...args], { env: { ...process.env, DOCKER_HOST: `unix://${engine.socket}`, DOCKER_CONFIG: "/tmp/bench-docker-config" }, stdout: "ignore", stderr: "pipe" });
  const code = await proc.exited;
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`docker ${args.join(" ")} on ${engine.name} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return ms;
}
