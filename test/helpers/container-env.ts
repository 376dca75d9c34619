/**
 * What container tests need: a fixture registry with the test images, a daemon from dist/bunker, and busybox
 * pulled into it through the daemon (`docker pull`), plus the docker CLI pointed at it.
 */
import { pushFixtures } from "../fixtures/images";
import { startRegistry, type RunningRegistry } from "../fixtures/registry";
import { docker, type RunResult } from "./cli";
import { startDaemon, stopDaemon, type DaemonOptions, type TestDaemon } from "./daemon";

export interface ContainerEnv {
  daemon: TestDaemon;
  registry: RunningRegistry;
  /** `127.0.0.1:PORT/busybox:latest`, already pulled. */
  busybox: string;
  docker(args: string[], stdin?: string | Uint8Array, timeoutMs?: number): Promise<RunResult>;
  /** The Engine API over the daemon's socket. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

export async function startContainerEnv(options: DaemonOptions = {}): Promise<ContainerEnv> {
  const registry = await startRegistry();
  let daemon: TestDaemon | undefined;
  try {
    await pushFixtures(registry.url);
    daemon = await startDaemon(options);
    const busybox = `${registry.url}/busybox:latest`;
    const d = daemon;
    const env: ContainerEnv = {
      daemon: d,
      registry,
      busybox,
      docker: (args, stdin, timeoutMs = 60_000) => docker(d.env, args, stdin, timeoutMs),
      api: (path, init = {}) => fetch(`http://localhost${path}`, { ...init, unix: d.socket } as RequestInit),
    };
    const pulled = await env.docker(["pull", busybox]);
    if (pulled.exitCode !== 0) throw new Error(`docker pull failed: ${pulled.stderr}`);
    return env;
  } catch (err) {
    await stopDaemon(daemon);
    await registry.stop();
    throw err;
  }
}

/** Remove every container (force), then stop the daemon and the registry. */
export async function stopContainerEnv(env: ContainerEnv | undefined): Promise<void> {
  if (!env) return;
  try {
    const ids = (await env.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await env.docker(["rm", "-f", ...ids]);
  } finally {
    await stopDaemon(env.daemon);
    await env.registry.stop();
  }
}
