import { InvalidParameterError, NotImplementedError } from "../errors";
import { hostPlatform, parsePlatform } from "../registry/platform";
import { parseReference } from "../registry/reference";
import { applyChanges } from "./changes";
import { createImage, type CreateImageDeps } from "./create";
import type { ProgressWriter } from "./progress";
import type { ImageRecord } from "./types";

export interface ImportArgs {
  /** `-` (the request body); URLs are not supported. */
  source: string;
  repo?: string;
  tag?: string;
  /** Dockerfile instructions (`CMD ["x"]`, `ENV A=b`, ...) applied to the config. */
  changes: string[];
  message?: string;
  platform?: string;
}

/** `docker import`: a root filesystem tarball (plain, gzip or zstd) becomes a one-layer image. */
export async function importImage(deps: CreateImageDeps, args: ImportArgs, body: AsyncIterable<Uint8Array>, progress: ProgressWriter, signal: AbortSignal): Promise<ImageRecord> {
  if (args.source !== "-") throw new NotImplementedError(`importing from ${args.source} is not supported: send the tarball in the request body (fromSrc=-)`);
  let reference: string | undefined;
  if (args.repo) {
    reference = args.tag ? `${args.repo}:${args.tag}` : args.repo;
    const ref = parseReference(reference);
    if (ref.digest) throw new InvalidParameterError("cannot import to a digest reference");
  }
  const platform = args.platform ? parsePlatform(args.platform) : hostPlatform();
  const config = applyChanges({}, args.changes);
  const created = new Date().toISOString();
  const comment = args.message || `Imported from ${args.source}`;
  const image = await createImage(deps, {
    parent: null,
    layer: body,
    config: {
      created,
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      comment,
      config,
      history: [{ created, comment }],
    },
    reference,
    signal,
  });
  await progress.status(image.id);
  return image;
}
