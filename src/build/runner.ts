/**
 * The seam between the builder and the container service: what a RUN step needs — a container made from an
 * image with a command, environment, working directory, user and network, its output as it comes, its exit
 * code, and the changes it made to its RW layer as a layer tar.
 */
import type { ImageRecord } from "../images/types";

/** A bind mount into the build container (RUN has none in the classic builder; the seam allows them). */
export interface BuildMount {
  source: string;
  target: string;
  readonly: boolean;
}

export interface BuildRunSpec {
  /** The image the container runs (null: an image without layers, e.g. FROM scratch + metadata). */
  image: ImageRecord | null;
  /** The full argv: the SHELL plus the command for the shell form, the command itself for the exec form. */
  cmd: string[];
  /** `KEY=value`: the image's environment with the step's build args. */
  env: string[];
  /** Absolute; "" means "/". */
  workdir: string;
  /** `user[:group]` as USER set it; "" means root. */
  user: string;
  /** `default` (the daemon's default network), `bridge`, `host`, `none`, or a network name. */
  network: string;
  mounts: BuildMount[];
}

/** A created (not yet started) build container. */
export interface BuildContainer {
  readonly id: string;
  /** Start it and wait for it to exit; `output` gets stdout and stderr as they come. Resolves with the exit code. */
  run(output: (chunk: Uint8Array) => Promise<void>, signal: AbortSignal): Promise<number>;
  /** After `run`: the changes of the container's RW layer as an uncompressed layer tar (read once). */
  diff(): AsyncIterable<Uint8Array>;
  /** Remove the container and its RW layer (also when it never ran). */
  remove(): Promise<void>;
}

export interface BuildRunner {
  create(spec: BuildRunSpec): Promise<BuildContainer>;
}
