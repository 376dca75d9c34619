/**
 * `bunker run --ephemeral IMAGE CMD…`: the shortest CI step. No daemon is involved: an ephemeral engine starts
 * in this process (src/lib), pulls the image when missing, runs the command with its output passed through
 * live, removes everything it made, and the exit status is the container's (125 when the engine fails, 126/127
 * when the command cannot run, 130/143 after SIGINT/SIGTERM). Every other `run` flag works as with a daemon,
 * except those that need a daemon afterwards (-d) or a terminal (-t).
 */
import type { Client } from "../client/client";
import { messageOf } from "../errors";
import { createEngine, type BunkerEngine, type ContainerCreateRequest, type PullPolicy } from "../lib/index";
import { bool, list, str, type FlagSpec, type FlagValues } from "./containers/argv";
import { consoleSize } from "./containers/attach-io";
import { createBody, UsageError } from "./containers/create-flags";
import { writerFor } from "./containers/demux";
import { statusOfStartError } from "./containers/run";

/** Flags of the one-shot engine, accepted by `run` (and only meaningful with --ephemeral). */
export const EPHEMERAL_RUN_FLAGS: readonly FlagSpec[] = [
  { name: "ephemeral", kind: "bool" },
  { name: "registry-mirror", kind: "list" },
  { name: "insecure-registry", kind: "list" },
  { name: "storage-driver", kind: "string" },
  { name: "log-level", kind: "string" },
];

const ENGINE_ONLY = EPHEMERAL_RUN_FLAGS.filter((f) => f.name !== "ephemeral");
/** docker's status for a failure of the engine rather than of the container. */
const ENGINE_FAILED = 125;

type RunFn = (client: Client, flags: FlagValues, args: string[]) => Promise<number>;

/** `run` as given, unless --ephemeral asks for the one-shot engine. */
export function withEphemeral(run: RunFn): RunFn {
  return (client, flags, args) => {
    if (bool(flags.ephemeral)) return runEphemeral(flags, args);
    const stray = ENGINE_ONLY.find((f) => flags[f.name] !== undefined);
    if (stray) throw new UsageError(`--${stray.name} configures the engine of \`run --ephemeral\`; give it to \`bunker daemon\` otherwise`);
    return run(client, flags, args);
  };
}

function fail(message: string, code: number): number {
  process.stderr.write(`bunker: ${message}\n`);
  return code;
}

async function runEphemeral(flags: FlagValues, args: string[]): Promise<number> {
  const [image, ...cmd] = args;
  if (!image) throw new UsageError('"run" requires at least 1 argument.');
  if (bool(flags.detach)) throw new UsageError("--ephemeral runs in the foreground: the engine ends with the command (no -d)");
  if (bool(flags.tty)) throw new UsageError("--ephemeral does not allocate a terminal (no -t)");
  const spec = createBody(flags, image, cmd, false, consoleSize());
  const pull = (str(flags.pull) ?? "missing") as PullPolicy;
  if (!["missing", "always", "never"].includes(pull)) throw new UsageError(`invalid pull option: '${pull}': must be one of "always", "missing" or "never"`);

  let engine: BunkerEngine;
  try {
    engine = await createEngine({
      ephemeral: true,
      registryMirrors: list(flags["registry-mirror"]),
      insecureRegistries: list(flags["insecure-registry"]),
      storageDriver: str(flags["storage-driver"]),
      logLevel: str(flags["log-level"]) ?? "error",
    });
  } catch (err) {
    return fail(`cannot start an ephemeral engine: ${messageOf(err)}`, ENGINE_FAILED);
  }
  try {
    try {
      await pullImage(engine, image, pull, bool(flags.quiet));
    } catch (err) {
      return fail(`pulling ${image}: ${messageOf(err)}`, ENGINE_FAILED);
    }
    const result = await engine.run(image, cmd, {
      request: spec.body as ContainerCreateRequest,
      name: spec.name,
      pull: "never",
      stdin: spec.attachStdin ? Bun.stdin.stream() : undefined,
      onStdout: writerFor(process.stdout),
      onStderr: writerFor(process.stderr),
    });
    return result.exitCode;
  } catch (err) {
    return fail(messageOf(err), statusOfStartError(err));
  } finally {
    await engine.close();
  }
}

/** Pull as `docker run` does, with its plain-text progress on stderr (a fresh engine has no image yet). */
async function pullImage(engine: BunkerEngine, image: string, policy: PullPolicy, quiet: boolean): Promise<void> {
  if (policy === "never") return;
  if (!quiet && policy === "missing") process.stderr.write(`Unable to find image '${image}' locally\n`);
  await engine.pull(image, {
    onProgress: (p) => {
      if (!quiet && p.current === undefined) process.stderr.write(`${p.id ? `${p.id}: ` : ""}${p.status}\n`);
    },
  });
}
