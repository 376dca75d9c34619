/**
 * Bunker as a library: `import { createEngine } from "bunker"` gives an engine in the calling Bun process,
 * backed by the same services as the daemon, with no HTTP in between.
 *
 *   await using engine = await createEngine({ ephemeral: true });
 *   const { exitCode, stdout } = await engine.run("busybox", ["sh", "-c", "echo hi"]);
 */
import { BunkerEngine } from "./engine";
import type { EngineOptions } from "./types";

export { BunkerEngine, type NetworkApi, type VolumeApi } from "./engine";
export type * from "./types";
export { RunStepFailed } from "../build/builder";
export { BunkerError, ConflictError, ForbiddenError, InvalidParameterError, NotFoundError, NotImplementedError, NotModifiedError, SystemError, UnauthorizedError, UnavailableError } from "../errors";

/**
 * An engine on `options.dataRoot` (default /var/lib/bunker) or, with `ephemeral`, on a temporary one that is
 * removed with everything else it made when the engine closes. Fails with ConflictError when a daemon or
 * another engine owns the data root.
 */
export function createEngine(options: EngineOptions = {}): Promise<BunkerEngine> {
  return BunkerEngine.open(options);
}
