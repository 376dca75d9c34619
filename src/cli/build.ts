/**
 * `bunker build`: sends a context to `POST /build` and prints the daemon's output. A directory context is packed
 * here the way the docker CLI packs it — `.dockerignore` applied, owners set to root, the Dockerfile and
 * .dockerignore always included, a Dockerfile from outside the context added under a generated name — and
 * streamed as it is read. `-` sends stdin as it is (a tar, or a bare Dockerfile the daemon recognises).
 */
import type { CAC } from "cac";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { IgnoreMatcher } from "../build/dockerignore";
import { packTar, type PackEntry } from "../build/tar-pack";
import { toReadableStream } from "../images/streams";
import { clientFor, CommandExit, runCommand, type GlobalOptions } from "./context";
import { renderProgress, type WireMessage } from "./progress";

type Opts = GlobalOptions & Record<string, unknown>;

function list(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** `--build-arg K=V`, or `--build-arg K` to pass K from this environment (null when unset, as docker does). */
function buildArgs(values: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq === 0) throw new Error(`invalid build-arg ${JSON.stringify(v)}: the name is empty`);
    if (eq > 0) out[v.slice(0, eq)] = v.slice(eq + 1);
    else out[v] = process.env[v] ?? null;
  }
  return out;
}

function labels(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? "" : v.slice(eq + 1);
  }
  return out;
}

function fileEntry(path: string, name: string): PackEntry | null {
  const st = lstatSync(path);
  const base = { name, mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: Math.floor(st.mtimeMs / 1000) };
  if (st.isDirectory()) return { ...base, type: "directory" };
  if (st.isSymbolicLink()) return { ...base, type: "symlink", linkname: readlinkSync(path) };
  if (st.isFile()) return { ...base, type: "file", size: st.size, body: () => Bun.file(path).stream() };
  // Sockets, devices and fifos have no place in a build context.
  return null;
}

/** The context directory's entries, minus what .dockerignore excludes (the build files always stay). */
function* contextEntries(root: string, matcher: IgnoreMatcher, keep: ReadonlySet<string>): Generator<PackEntry> {
  function* visit(rel: string): Generator<PackEntry> {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const excluded = !keep.has(path) && matcher.matches(path);
      const entry = fileEntry(join(root, path), path);
      if (!entry) continue;
      if (entry.type === "directory") {
        if (excluded && !matcher.hasExclusions) continue;
        if (!excluded) yield entry;
        yield* visit(path);
      } else if (!excluded) yield entry;
    }
  }
  yield* visit("");
}

export interface PackedContext {
  body: ReadableStream<Uint8Array>;
  dockerfile: string | undefined;
}

/** A context directory as the tar docker's CLI would send (also what the library builds from). */
export function packDirectory(contextDir: string, dockerfileFlag: string | undefined): PackedContext {
  const root = resolve(contextDir);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`unable to prepare context: path ${JSON.stringify(contextDir)} not found`);
  let dockerfilePath = dockerfileFlag ? resolve(dockerfileFlag) : join(root, "Dockerfile");
  if (!dockerfileFlag && !existsSync(dockerfilePath) && existsSync(join(root, "dockerfile"))) dockerfilePath = join(root, "dockerfile");
  if (!existsSync(dockerfilePath)) throw new Error(`unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${dockerfilePath}: no such file or directory`);
  const rel = relative(root, dockerfilePath);
  const outside = rel.startsWith("..") || isAbsolute(rel);
  const ignoreFile = join(root, ".dockerignore");
  const matcher = existsSync(ignoreFile) ? IgnoreMatcher.parse(readFileSync(ignoreFile, "utf8")) : new IgnoreMatcher([]);
  const keep = new Set([".dockerignore", ...(outside ? [] : [rel])]);
  // A Dockerfile from outside the context travels inside it under a name nothing in the context uses.
  const extraName = outside ? `.dockerfile.${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}` : null;
  function* all(): Generator<PackEntry> {
    yield* contextEntries(root, matcher, keep);
    if (extraName) yield { ...fileEntry(dockerfilePath, extraName)!, mode: 0o600 };
  }
  return { body: toReadableStream(packTar(all())), dockerfile: extraName ?? rel };
}

async function build(opts: Opts, contextArg: string): Promise<void> {
  const client = clientFor(opts);
  const dockerfileFlag = str(opts.file);
  let packed: PackedContext;
  if (contextArg === "-") {
    if (process.stdin.isTTY) throw new Error("the build context on stdin is empty");
    packed = { body: Bun.stdin.stream(), dockerfile: dockerfileFlag };
  } else packed = packDirectory(contextArg, dockerfileFlag);
  const quiet = opts.quiet === true;
  const res = await client.request("POST", "/build", {
    query: {
      t: list(opts.tag),
      dockerfile: packed.dockerfile,
      buildargs: JSON.stringify(buildArgs(list(opts.buildArg))),
      labels: JSON.stringify(labels(list(opts.label))),
      target: str(opts.target),
      nocache: opts.cache === false,
      pull: opts.pull === true,
      rm: opts.rm !== false,
      forcerm: opts.forceRm === true,
      q: quiet,
      platform: str(opts.platform),
      networkmode: str(opts.network),
    },
    rawBody: packed.body,
    headers: { "Content-Type": "application/x-tar", "X-Registry-Config": Buffer.from("{}").toString("base64") },
  });
  let failure: (WireMessage & { errorDetail?: { message: string; code?: number } }) | null = null;
  async function* untilError(messages: AsyncIterable<WireMessage>): AsyncGenerator<WireMessage> {
    for await (const m of messages) {
      if (m.error || m.errorDetail) {
        failure = m;
        return;
      }
      yield m;
    }
  }
  await renderProgress(untilError(client.jsonLines<WireMessage>(res)), process.stdout, !quiet && process.stdout.isTTY === true);
  const failed = failure as (WireMessage & { errorDetail?: { message: string; code?: number } }) | null;
  if (failed) throw new CommandExit(failed.errorDetail?.code || 1, failed.errorDetail?.message ?? failed.error ?? "build failed");
}

/** cac drops a bare `-` from the arguments: it is looked for in argv instead. */
function contextArgument(parsed: string | undefined): string {
  if (parsed !== undefined) return parsed;
  if (process.argv.slice(2).includes("-")) return "-";
  throw new Error('"build" requires exactly 1 argument: a context directory, or - to read it from STDIN');
}

export function registerBuildCommand(cli: CAC): void {
  cli
    .command("build [context]", "Build an image from a Dockerfile (context: a directory, or - for a tar or Dockerfile on STDIN)")
    .option("-t, --tag <name>", "Name and optionally a tag (name:tag); repeatable")
    .option("-f, --file <path>", "Name of the Dockerfile (default: PATH/Dockerfile)")
    .option("--build-arg <arg>", "Set build-time variables (KEY=VALUE, or KEY to take it from the environment)")
    .option("--target <stage>", "Set the target build stage to build")
    .option("--no-cache", "Do not use cache when building the image")
    .option("-q, --quiet", "Suppress the build output and print image ID on success")
    .option("--label <label>", "Set metadata for an image (key=value)")
    .option("--pull", "Always attempt to pull newer versions of the base images")
    .option("--network <mode>", "Set the networking mode for the RUN instructions during build")
    .option("--platform <platform>", "Set platform if server is multi-platform capable")
    .option("--rm", "Remove intermediate containers after a successful build", { default: true })
    .option("--force-rm", "Always remove intermediate containers")
    .action((context: string | undefined, opts: Opts) => runCommand(() => build(opts, contextArgument(context))));
}
