/**
 * The classic builder: runs a parsed Dockerfile stage by stage, instruction by instruction, each step producing
 * an image (a layer for COPY/ADD/RUN and a WORKDIR that creates its directory, a history entry with
 * `empty_layer` for the rest), with docker's JSON-lines output (`Step N/M : …`, ` ---> <id>`, `Using cache`,
 * `Running in` / `Removing intermediate container`, the `aux` image ID of every stage, `Successfully built/tagged`).
 * Every step is looked up in the build cache first.
 */
import { posix } from "node:path";
import { BunkerError, InvalidParameterError, messageOf, NotFoundError } from "../errors";
import type { ImageService } from "../images/service";
import type { ImageRecord } from "../images/types";
import type { JobOutput } from "../engine/jobs";
import { familiarString, parseReference } from "../registry/reference";
import type { ContainerConfig, ImageConfig } from "../registry/types";
import { goArch } from "../system/host";
import { BuildArgs } from "./build-args";
import { cacheKey, type BuildCache } from "./cache";
import { resolveOwner } from "./chown";
import { DEFAULT_PATH, DEFAULT_SHELL, envValue } from "./config-values";
import type { ConfinedTree } from "./confined-tree";
import { directoryEntries, planCopy, type CopySource } from "./copy";
import { DockerfileError, type SourceLocation } from "./dockerfile/errors";
import { parseInstruction, type Instruction, type InstructionOf } from "./dockerfile/instructions";
import { splitInstruction, type EscapeToken } from "./dockerfile/parser";
import { planDockerfile, stagesUpTo, type Stage } from "./dockerfile/stages";
import { expandWord, ExpansionError, type VariableLookup } from "./dockerfile/words";
import { applyMetadata, commandOf, type MetadataInstruction } from "./metadata";
import type { RootfsView, RootfsViews } from "./rootfs-views";
import type { BuildRunner } from "./runner";
import { packTar } from "./tar-pack";

export interface BuildOptions {
  /** Full references to tag the result with. */
  tags: string[];
  buildArgs: Record<string, string | null>;
  target?: string;
  noCache: boolean;
  /** Pull base images even when present. */
  pull: boolean;
  /** Remove intermediate containers (also after a failed step: no container outlives its build). */
  rm: boolean;
  forceRm: boolean;
  /** Labels for the final image. */
  labels: Record<string, string>;
  /** Only the final image ID is printed. */
  quiet: boolean;
  platform?: string;
  /** RUN's network unless the instruction says otherwise. */
  networkMode: string;
}

export interface BuilderDeps {
  images: ImageService;
  cache: BuildCache;
  runner: BuildRunner;
  views: RootfsViews;
  /** Pull `reference` (the `pull` job), with its progress on `output`. */
  pull(reference: string, platform: string | undefined, output: JobOutput, signal: AbortSignal): Promise<ImageRecord>;
}

export interface BuildInput {
  /** The context directory as a confined tree. */
  context: ConfinedTree;
  dockerfileName: string;
  dockerfileText: string;
}

/** A RUN step whose command failed: the build's error carries its exit code, as docker's does. */
export class RunStepFailed extends BunkerError {
  override readonly status = 400;
  constructor(
    location: SourceLocation,
    readonly command: string[],
    readonly code: number,
  ) {
    super(`${location.file}:${location.line}: The command '${command.join(" ")}' returned a non-zero code: ${code}`);
  }
}

type BaseConfig = Omit<ImageConfig, "rootfs">;

interface StageState {
  stage: Stage;
  image: ImageRecord | null;
  config: BaseConfig;
  /** ARGs declared in this stage and their values. */
  args: Map<string, string | undefined>;
  /** Whether this stage set CMD (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

interface StageResult {
  name: string | null;
  image: ImageRecord | null;
  config: BaseConfig;
}

const shortId = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

/** JSON-lines build output: `stream` text (silenced by quiet) and `aux` payloads. */
class BuildOutput {
  constructor(
    private readonly out: JobOutput,
    readonly quiet: boolean,
  ) {}

  stream(text: string): Promise<void> {
    return this.quiet ? Promise.resolve() : this.out.write(`${JSON.stringify({ stream: text })}\n`);
  }

  always(text: string): Promise<void> {
    return this.out.write(`${JSON.stringify({ stream: text })}\n`);
  }

  aux(value: Record<string, unknown>): Promise<void> {
    return this.out.write(`${JSON.stringify({ aux: value })}\n`);
  }

  /** Where a pull started by FROM reports (nothing when quiet). */
  get progress(): JobOutput {
    return this.quiet ? { write: async () => {} } : this.out;
  }
}

export class Builder {
  private readonly output: BuildOutput;
  private readonly args: BuildArgs;
  private readonly results: StageResult[] = [];
  private escape: EscapeToken = "\\";

  constructor(
    private readonly deps: BuilderDeps,
    private readonly options: BuildOptions,
    out: JobOutput,
    private readonly signal: AbortSignal,
  ) {
    this.output = new BuildOutput(out, options.quiet);
    this.args = new BuildArgs(options.buildArgs);
  }

  /** Build; returns the final image's ID. */
  async build(input: BuildInput): Promise<string> {
    const plan = planDockerfile(input.dockerfileText, input.dockerfileName);
    this.escape = plan.escape;
    const stages = stagesUpTo(plan, this.options.target);
    this.appendOptionLabels(stages.at(-1)!);
    const total = plan.metaArgs.length + stages.length + stages.reduce((n, s) => n + s.instructions.length, 0);
    let step = 0;
    const announce = (original: string) => this.output.stream(`Step ${++step}/${total} : ${original}\n`);

    for (const arg of plan.metaArgs) {
      await announce(arg.original);
      for (const { name, value } of arg.args) this.args.declareMeta(name, value === null ? undefined : this.expand(value, (n) => this.args.metaLookup(n), arg.location));
    }
    let state: StageState | null = null;
    for (const stage of stages) {
      this.signal.throwIfAborted();
      await announce(stage.from.original);
      state = await this.startStage(stage, input);
      if (state.image) await this.output.stream(` ---> ${shortId(state.image.id)}\n`);
      for (const instruction of stage.instructions) {
        this.signal.throwIfAborted();
        await announce(instruction.original);
        await this.dispatch(state, instruction, input);
        if (state.image) await this.output.stream(` ---> ${shortId(state.image.id)}\n`);
      }
      if (state.image) await this.output.aux({ ID: state.image.id });
      this.results.push({ name: stage.name, image: state.image, config: state.config });
    }
    const unused = this.args.unused();
    if (unused.length > 0) await this.output.stream(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed\n`);
    const image = state?.image;
    if (!image) throw new DockerfileError(null, "No image was generated. Is your Dockerfile empty?");
    await this.output.stream(`Successfully built ${shortId(image.id)}\n`);
    for (const tag of this.options.tags) {
      this.deps.images.tag(image.id, tag);
      await this.output.stream(`Successfully tagged ${familiarString(parseReference(tag))}\n`);
    }
    if (this.options.quiet) await this.output.always(`${image.id}\n`);
    return image.id;
  }

  /** `--label`s of the request become LABEL steps at the end of the last stage, as docker does. */
  private appendOptionLabels(stage: Stage): void {
    const quote = (s: string) => `'${s.split("'").join(`'${this.escape}''`)}'`;
    for (const key of Object.keys(this.options.labels).sort()) {
      const value = this.options.labels[key]!;
      stage.instructions.push({ kind: "LABEL", pairs: [[quote(key), quote(value)]], original: `LABEL ${JSON.stringify(key)}=${JSON.stringify(value)}`, location: stage.from.location });
    }
  }

  private expand(word: string, lookup: VariableLookup, location: SourceLocation): string {
    try {
      return expandWord(word, lookup, this.escape);
    } catch (err) {
      if (err instanceof ExpansionError) throw new DockerfileError(location, err.message);
      throw err;
    }
  }

  /** Variables visible to an instruction: ENV first, then the stage's ARGs, then predefined proxy args. */
  private lookup(state: StageState): VariableLookup {
    const env = state.config.config?.Env ?? [];
    return (name) => envValue(env, name) ?? (state.args.has(name) ? state.args.get(name) : this.args.predefined(name));
  }

  /** Bad input found while running an instruction is reported with the instruction's file, line and name. */
  private fail(instruction: Instruction, err: unknown): never {
    if (!(err instanceof InvalidParameterError) || err instanceof DockerfileError) throw err;
    const message = messageOf(err);
    throw new DockerfileError(instruction.location, message.startsWith(instruction.kind) ? message : `${instruction.kind}: ${message}`);
  }

  // ---- stages ----

  private async startStage(stage: Stage, input: BuildInput): Promise<StageState> {
    const from = stage.from;
    const name = this.expand(from.image, (n) => this.args.metaLookup(n), from.location);
    if (name === "") throw new DockerfileError(from.location, "FROM requires an image name");
    const platform = from.platform ? this.expand(from.platform, (n) => this.args.metaLookup(n), from.location) : this.options.platform;
    const previous = this.results.find((r) => r.name !== null && r.name === name.toLowerCase());
    let image: ImageRecord | null;
    let config: BaseConfig;
    if (previous) {
      image = previous.image;
      config = structuredClone(previous.config);
    } else if (name.toLowerCase() === "scratch") {
      image = null;
      config = scratchConfig(platform);
    } else {
      image = await this.baseImage(name, platform).catch((err: unknown) => this.fail(from, err));
      config = baseConfigOf(image);
    }
    const containerConfig: ContainerConfig = { ...config.config };
    const env = containerConfig.Env ?? [];
    if (envValue(env, "PATH") === undefined) containerConfig.Env = [...env, DEFAULT_PATH];
    const triggers = containerConfig.OnBuild ?? [];
    delete containerConfig.OnBuild;
    config.config = containerConfig;
    const state: StageState = { stage, image, config, args: new Map(), cmdSet: false };
    if (triggers.length > 0) {
      await this.output.stream(`# Executing ${triggers.length} build trigger${triggers.length === 1 ? "" : "s"}\n`);
      for (const trigger of triggers) {
        const instruction = parseInstruction(splitInstruction(trigger, this.escape, from.location), this.escape);
        await this.dispatch(state, instruction, input);
      }
    }
    return state;
  }

  /** A base image by name: the local one, or pulled (always pulled with `pull=1`). */
  private async baseImage(name: string, platform: string | undefined): Promise<ImageRecord> {
    if (!this.options.pull) {
      try {
        return this.deps.images.resolve(name);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return this.deps.pull(name, platform, this.output.progress, this.signal);
  }

  // ---- instructions ----

  private async dispatch(state: StageState, instruction: Instruction, input: BuildInput): Promise<void> {
    try {
      switch (instruction.kind) {
        case "RUN":
          return await this.run(state, instruction);
        case "COPY":
        case "ADD":
          return await this.copy(state, instruction, input);
        case "WORKDIR":
          return await this.workdir(state, instruction);
        case "ARG":
          return await this.arg(state, instruction);
        case "FROM":
          throw new DockerfileError(instruction.location, "FROM is not allowed here");
        default:
          return await this.metadata(state, instruction);
      }
    } catch (err) {
      this.fail(instruction, err);
    }
  }

  private shell(state: StageState): string[] {
    return state.config.config?.Shell ?? DEFAULT_SHELL;
  }

  private nop(state: StageState, text: string): string {
    return `${this.shell(state).join(" ")} #(nop) ${text}`;
  }

  /** Instructions that only change the image config. */
  private async metadata(state: StageState, instruction: MetadataInstruction): Promise<void> {
    const lookup = this.lookup(state);
    const result = applyMetadata(state.config.config ?? {}, instruction, {
      expand: (word) => this.expand(word, lookup, instruction.location),
      shell: this.shell(state),
      cmdSet: state.cmdSet,
    });
    state.cmdSet = result.cmdSet;
    await this.step(state, { createdBy: this.nop(state, result.text), config: result.config, author: result.author });
  }

  private async arg(state: StageState, instruction: InstructionOf<"ARG">): Promise<void> {
    const texts: string[] = [];
    for (const { name, value } of instruction.args) {
      const defaultValue = value === null ? undefined : this.expand(value, this.lookup(state), instruction.location);
      state.args.set(name, this.args.declareInStage(name, defaultValue));
      texts.push(value === null ? name : `${name}=${value}`);
    }
    await this.step(state, { createdBy: this.nop(state, `ARG ${texts.join(" ")}`), config: state.config.config ?? {} });
  }

  private async workdir(state: StageState, instruction: InstructionOf<"WORKDIR">): Promise<void> {
    const requested = this.expand(instruction.value, this.lookup(state), instruction.location);
    const current = state.config.config?.WorkingDir || "/";
    const dir = posix.isAbsolute(requested) ? posix.normalize(requested) : posix.join("/", current, requested);
    const normalized = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
    const config = { ...state.config.config, WorkingDir: normalized };
    await this.step(state, {
      createdBy: this.nop(state, `WORKDIR ${normalized}`),
      config,
      // Like docker, the directory is created now (root-owned), so RUN and COPY find it.
      layer: async (view) => {
        const entries = directoryEntries(view.tree, normalized, Math.floor(Date.now() / 1000));
        return entries ? packTar(entries) : null;
      },
    });
  }

  private async copy(state: StageState, instruction: InstructionOf<"COPY" | "ADD">, input: BuildInput): Promise<void> {
    const lookup = this.lookup(state);
    const x = (word: string) => this.expand(word, lookup, instruction.location);
    if (instruction.checksum !== null) throw new InvalidParameterError("ADD --checksum is only for remote URLs, which this builder does not fetch");
    const source = instruction.kind === "COPY" && instruction.from !== null ? await this.copySource(state, x(instruction.from), instruction.location) : { tree: input.context, label: "build context", release: async () => {} };
    const view = await this.deps.views.open(state.image);
    try {
      const owner = instruction.chown !== null ? resolveOwner(x(instruction.chown), view.tree) : null;
      const chmod = instruction.chmod !== null ? parseChmod(x(instruction.chmod)) : null;
      const plan = await planCopy({
        instruction: instruction.kind,
        sources: instruction.sources.map(x),
        dest: x(instruction.dest),
        workdir: state.config.config?.WorkingDir || "/",
        from: source,
        rootfs: view.tree,
        owner,
        chmod,
        now: Math.floor(Date.now() / 1000),
      });
      await this.step(state, {
        createdBy: this.nop(state, plan.createdBy),
        config: state.config.config ?? {},
        key: [plan.hash],
        layer: async () => packTar(plan.entries()),
        view,
      });
    } finally {
      await view.release();
      await source.release();
    }
  }

  /** `COPY --from=`: an earlier stage (by name or index), or else an image (pulled if missing). */
  private async copySource(state: StageState, from: string, location: SourceLocation): Promise<CopySource & { release(): Promise<void> }> {
    const byIndex = /^\d+$/.test(from) ? Number(from) : null;
    const stage = byIndex !== null ? this.results[byIndex] : this.results.find((r) => r.name === from.toLowerCase());
    if (byIndex !== null && !stage) throw new DockerfileError(location, `invalid from flag value ${from}: stage index ${from} is not an earlier build stage`);
    if (from.toLowerCase() === state.stage.name) throw new DockerfileError(location, `invalid from flag value ${from}: a stage cannot copy from itself`);
    const image = stage ? stage.image : await this.baseImage(from, this.options.platform);
    const view = await this.deps.views.open(image);
    return { tree: view.tree, label: stage ? `stage ${JSON.stringify(from)}` : `image ${JSON.stringify(from)}`, release: () => view.release() };
  }

  private async run(state: StageState, instruction: InstructionOf<"RUN">): Promise<void> {
    const cmd = commandOf(instruction.command, this.shell(state));
    const config = state.config.config ?? {};
    const env = config.Env ?? [];
    // Declared ARGs with a value, unless ENV shadows them, are in the command's environment, its history and its cache key.
    const argEnv = [...state.args].filter(([name, value]) => value !== undefined && envValue(env, name) === undefined).map(([name, value]) => `${name}=${value}`);
    const createdBy = argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(" ")} ${cmd.join(" ")}` : cmd.join(" ");
    const key = cacheKey([state.image?.id ?? "", createdBy]);
    if (await this.cached(state, key)) return;
    const network = instruction.network !== null ? this.expand(instruction.network, this.lookup(state), instruction.location) : this.options.networkMode;
    const container = await this.deps.runner.create({
      image: state.image,
      cmd,
      env: [...env, ...argEnv, ...this.args.predefinedEnv()],
      workdir: config.WorkingDir ?? "",
      user: config.User ?? "",
      network,
      mounts: [],
    });
    const id = shortId(container.id);
    await this.output.stream(` ---> Running in ${id}\n`);
    let removed = false;
    const remove = async () => {
      if (removed) return;
      removed = true;
      await container.remove();
    };
    try {
      const decoder = new TextDecoder();
      const code = await container.run((chunk) => this.output.stream(decoder.decode(chunk, { stream: true })), this.signal);
      const rest = decoder.decode();
      if (rest) await this.output.stream(rest);
      if (code !== 0) throw new RunStepFailed(instruction.location, cmd, code);
      await this.commit(state, { createdBy, config, key, layer: container.diff() });
      if (this.options.rm || this.options.forceRm) {
        await remove();
        await this.output.stream(`Removing intermediate container ${id}\n`);
      }
    } catch (err) {
      if (this.options.rm || this.options.forceRm) await remove().catch(() => {});
      throw err;
    }
  }

  // ---- committing ----

  /** Use the cached image for `key` when there is one (and the cache is on). */
  private async cached(state: StageState, key: string): Promise<boolean> {
    if (this.options.noCache) return false;
    const images = this.deps.images;
    const hit = this.deps.cache.lookup(key, (id) => images.graph.get(id) !== null);
    if (!hit) return false;
    await this.output.stream(" ---> Using cache\n");
    this.adopt(state, images.graph.get(hit)!);
    return true;
  }

  private adopt(state: StageState, image: ImageRecord): void {
    state.image = image;
    state.config = baseConfigOf(image);
  }

  /**
   * A step: from the cache, or a new image from the new config and the layer `layer` makes (given a view of the
   * current image's root filesystem; the step's own view when it has one). Keyed by the parent, the history text
   * and `key`.
   */
  private async step(
    state: StageState,
    spec: { createdBy: string; config: ContainerConfig; author?: string; key?: string[]; layer?: (view: RootfsView) => Promise<AsyncIterable<Uint8Array> | null>; view?: RootfsView },
  ): Promise<void> {
    const key = cacheKey([state.image?.id ?? "", spec.createdBy, ...(spec.key ?? [])]);
    if (await this.cached(state, key)) return;
    let layer: AsyncIterable<Uint8Array> | null = null;
    let ownView: RootfsView | null = null;
    try {
      if (spec.layer) {
        const view = spec.view ?? (ownView = await this.deps.views.open(state.image));
        layer = await spec.layer(view);
      }
      await this.commit(state, { createdBy: spec.createdBy, config: spec.config, author: spec.author, key, layer });
    } finally {
      await ownView?.release();
    }
  }

  private async commit(state: StageState, spec: { createdBy: string; config: ContainerConfig; author?: string; key: string; layer: AsyncIterable<Uint8Array> | null }): Promise<void> {
    const created = new Date().toISOString();
    const { id: _id, parent: _parent, container: _container, container_config: _containerConfig, docker_version: _version, ...base } = state.config;
    const config: BaseConfig = {
      ...base,
      created,
      config: spec.config,
      history: [...(base.history ?? []), spec.layer ? { created, created_by: spec.createdBy } : { created, created_by: spec.createdBy, empty_layer: true }],
    };
    if (spec.author !== undefined) config.author = spec.author;
    if (state.image) config.parent = state.image.id;
    const image = await this.deps.images.createImage({ parent: state.image, layer: spec.layer, config, signal: this.signal });
    this.deps.cache.record(spec.key, image.id, state.image?.id ?? "", spec.createdBy);
    this.adopt(state, image);
  }
}

function baseConfigOf(image: ImageRecord): BaseConfig {
  const { rootfs: _rootfs, ...config } = structuredClone(image.config);
  config.config ??= {};
  return config;
}

function scratchConfig(platform: string | undefined): BaseConfig {
  const [os, architecture, variant] = (platform ?? `linux/${goArch()}`).split("/");
  return { architecture: architecture || goArch(), os: os || "linux", ...(variant ? { variant } : {}), config: {}, history: [] };
}

function parseChmod(value: string): number {
  if (!/^[0-7]{3,4}$/.test(value)) throw new InvalidParameterError(`invalid chmod parameter: ${JSON.stringify(value)} (an octal mode such as 755 is expected)`);
  return parseInt(value, 8);
}
