/**
 * The build context: the request body of `POST /build`, a tar (plain, gzip, bzip2, xz or zstd) streamed straight
 * into a scratch directory by the confined layer extractor (an entry such as `../x` fails the build and nothing
 * lands outside the directory), or — as a convenience for API clients — a bare Dockerfile. Then the Dockerfile is
 * read and `.dockerignore` applied, docker's way: the Dockerfile and .dockerignore are read first and removed
 * afterwards only if the patterns exclude them.
 */
import { mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { posix, join } from "node:path";
import { InvalidParameterError, messageOf } from "../errors";
import { extractTar } from "../layers/extract";
import { LayerError } from "../layers/errors";
import { ConfinedTree } from "./confined-tree";
import { decompress, detectCompression, looksLikeTar, peek, SNIFF_BYTES } from "./decompress";
import { IgnoreMatcher } from "./dockerignore";

export interface BuildContext {
  /** The directory holding the context. */
  dir: string;
  /** The Dockerfile's path inside the context, as the client named it (for messages). */
  dockerfileName: string;
  dockerfileText: string;
}

const MAX_DOCKERFILE = 16 * 1024 * 1024;
const DEFAULT_DOCKERFILE = "Dockerfile";

/**
 * A request body read once, whose consumers may stop early without cancelling it: whatever they leave is read
 * and dropped by `drain()`, so the client can finish sending before it gets the answer (a server that closes
 * with unread data makes the kernel reset the connection, and the client never sees the error).
 */
export class UploadBody {
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(body: AsyncIterable<Uint8Array>) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  async *stream(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }

  async drain(): Promise<void> {
    try {
      while (!(await this.iterator.next()).done);
    } catch {
      // the client went away: nothing left to drain
    }
  }
}

/** Receive the context into `dir` (created here), then read the Dockerfile and apply .dockerignore. */
export async function receiveContext(upload: UploadBody, dir: string, dockerfile: string | undefined): Promise<BuildContext> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const raw = await peek(upload.stream(), SNIFF_BYTES);
  const compression = detectCompression(raw.head);
  const plain = compression === "none" ? raw : await peek(decompress(raw.stream, compression), SNIFF_BYTES);
  if (!looksLikeTar(plain.head)) {
    const text = await readSmall(plain.stream);
    writeFileSync(join(dir, DEFAULT_DOCKERFILE), text);
    return { dir, dockerfileName: DEFAULT_DOCKERFILE, dockerfileText: text };
  }
  try {
    await extractTar(plain.stream, dir, { whiteout: "delete" });
  } catch (err) {
    await upload.drain();
    if (err instanceof LayerError) throw new InvalidParameterError(`invalid build context: ${messageOf(err)}`);
    throw err;
  }
  await upload.drain();

  const tree = new ConfinedTree(dir);
  try {
    const name = dockerfilePath(dockerfile);
    let text = tree.readText(name, MAX_DOCKERFILE);
    let used = name;
    // docker falls back to a lower-case "dockerfile" when the default name is missing.
    if (text === null && !dockerfile) {
      text = tree.readText("dockerfile", MAX_DOCKERFILE);
      used = "dockerfile";
    }
    if (text === null) throw new InvalidParameterError(`Cannot locate specified Dockerfile: ${dockerfile || DEFAULT_DOCKERFILE}`);
    const ignore = tree.readText(".dockerignore", MAX_DOCKERFILE);
    if (ignore !== null) applyDockerignore(dir, IgnoreMatcher.parse(ignore));
    return { dir, dockerfileName: used, dockerfileText: text };
  } finally {
    tree.close();
  }
}

/** The `dockerfile` parameter as a path inside the context. */
function dockerfilePath(param: string | undefined): string {
  if (!param) return DEFAULT_DOCKERFILE;
  const cleaned = posix.normalize(param).replace(/^\/+/, "");
  if (cleaned === ".." || cleaned.startsWith("../")) throw new InvalidParameterError(`the Dockerfile (${param}) must be within the build context`);
  return cleaned;
}

async function readSmall(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > MAX_DOCKERFILE) throw new InvalidParameterError(`the Dockerfile is larger than ${MAX_DOCKERFILE} bytes`);
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * Remove what the patterns exclude. A directory that matches goes whole unless an exception (`!`) might keep
 * something below it; then it is walked and stays only if something in it is kept. The tree is our own scratch
 * copy and the walk never follows symlinks (only real directories are entered), so plain paths are safe here.
 */
export function applyDockerignore(root: string, matcher: IgnoreMatcher): void {
  if (matcher.empty) return;
  const visit = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      const excluded = matcher.matches(path);
      if (entry.isDirectory()) {
        if (excluded && !matcher.hasExclusions) {
          rmSync(join(root, path), { recursive: true, force: true });
          continue;
        }
        visit(path);
        if (excluded && readdirSync(join(root, path)).length === 0) rmdirSync(join(root, path));
      } else if (excluded) rmSync(join(root, path), { force: true });
    }
  };
  visit("");
}
