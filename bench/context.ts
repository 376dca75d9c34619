/** The engines the cases share: started on first use, stopped once at the end of the run. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUNKER_BIN, keeperPids, startDaemon, stopDaemon, type TestDaemon } from "../test/helpers/daemon.ts";
import { processExists } from "../drivers/libc/libc.ts";
import { startDockerPeer, type DockerPeer } from "./peers/docker.ts";
import { stopBenchRegistry } from "./registry.ts";
import type { BenchContext, Engine } from "./types.ts";

export type PeerMode = "off" | "if-installed" | "install";

export interface EnginesUsed {
  bunker: string | null;
  peer: string | null;
  /** Why there is no peer, once peer() has been asked and found none. */
  peerUnavailable: string | null;
}

export interface RunContext extends BenchContext {
  engines(): EnginesUsed;
  close(): Promise<void>;
}

async function ensureBinary(log: (message: string) => void): Promise<void> {
  if (existsSync(BUNKER_BIN)) return;
  log("dist/bunker is missing: building it with bun run build.ts");
  const build = Bun.spawn(["bun", "run", "build.ts"], { cwd: join(import.meta.dir, ".."), stdout: "inherit", stderr: "inherit" });
  if ((await build.exited) !== 0) throw new Error("bun run build.ts failed");
}

export function createContext(options: { quick: boolean; peerMode: PeerMode; log(message: string): void }): RunContext {
  let bunker: Promise<{ daemon: TestDaemon; engine: Engine }> | undefined;
  let peer: Promise<DockerPeer | null> | undefined;
  const used: EnginesUsed = { bunker: null, peer: null, peerUnavailable: null };

  const startBunker = async () => {
    await ensureBinary(options.log);
    const daemon = await startDaemon({ logLevel: "info", bridge: true });
    try {
      const response = await fetch("http://bunker/version", { unix: daemon.socket } as RequestInit);
      const { Version } = (await response.json()) as { Version: string };
      used.bunker = `bunker ${Version}`;
      const processes = () => [daemon.proc.pid, ...keeperPids(daemon.dataRoot)].filter((pid) => processExists(pid));
      return { daemon, engine: { name: used.bunker, socket: daemon.socket, processes } };
    } catch (error) {
      await stopDaemon(daemon);
      throw error;
    }
  };

  const startPeer = async () => {
    if (options.peerMode === "off") {
      used.peerUnavailable = "Docker comparison turned off (--without-docker / BENCH_DOCKER=0)";
      return null;
    }
    const result = await startDockerPeer({ install: options.peerMode === "install", log: options.log }).catch(
      (error: Error) => ({ unavailable: `starting the Docker peer failed: ${error.message}` }),
    );
    if ("unavailable" in result) {
      used.peerUnavailable = result.unavailable;
      options.log(`no Docker peer: ${result.unavailable}; measuring Bunker alone`);
      return null;
    }
    options.log(`Docker peer: ${result.peer.name} (pid ${result.peer.pid}) on ${result.peer.socket}`);
    used.peer = result.peer.name;
    return result.peer;
  };

  return {
    quick: options.quick,
    mayInstall: options.peerMode === "install",
    log: options.log,
    async bunker() {
      bunker ??= startBunker();
      return (await bunker).engine;
    },
    peer() {
      peer ??= startPeer();
      return peer;
    },
    engines: () => ({ ...used }),
    async close() {
      const [startedBunker, startedPeer] = await Promise.allSettled([bunker, peer]);
      await stopBenchRegistry();
      if (startedBunker.status === "fulfilled" && startedBunker.value) await stopDaemon(startedBunker.value.daemon);
      if (startedPeer.status === "fulfilled" && startedPeer.value) await startedPeer.value.stop();
    },
  };
}
