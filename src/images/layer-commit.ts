import { mkdirSync, renameSync, rmSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { GraphDriver } from "../../drivers/graph/types";
import { applyLayer, type AppliedLayer } from "../layers/apply";

/** Where layers are committed: the GraphDriver, plus a scratch directory on the same filesystem as its home. */
export interface LayerTarget {
  driver: GraphDriver;
  tmp: string;
}

export interface CommitLayerOptions {
  /** The snapshot name to commit under; a function when it depends on the diffID (known once the tar is read). */
  chainId: string | ((applied: AppliedLayer) => string);
  /** The parent's chainID; a promise while the parent is still being committed (layers of a pull run in parallel). */
  parent: Promise<string | null> | string | null;
  /** The layer as a gzip, zstd or plain tar stream. */
  blob: AsyncIterable<Uint8Array>;
  /** Digest the blob bytes must hash to; null when unknown (a tarball being loaded or imported). */
  expectedDigest: string | null;
  /** diffID the uncompressed tar must hash to, when known. */
  expectedDiffID?: string;
  onProgress?: (compressedBytes: number) => void;
  /** Runs once the tar is applied and verified, before the snapshot joins the chain (keep the blob, report progress). */
  onApplied?: (applied: AppliedLayer) => Promise<void> | void;
  signal?: AbortSignal;
}

/**
 * Turns one layer tar stream into the committed snapshot `chainId`. With overlay, layers are independent
 * directories: the tar extracts into a scratch directory right away (so parallel downloads also extract in
 * parallel) and is attached to the chain once the parent is committed. Drivers that apply a layer on a copy of
 * its parent wait for the parent first. Nothing is left behind on failure.
 */
export async function commitLayer(target: LayerTarget, options: CommitLayerOptions): Promise<AppliedLayer> {
  const { driver } = target;
  const tmpKey = `layer-${crypto.randomUUID()}`;
  const staging = join(target.tmp, tmpKey);
  let prepared = false;
  const apply = (dir: string) =>
    applyLayer({
      blob: options.blob,
      expectedDigest: options.expectedDigest,
      expectedDiffID: options.expectedDiffID,
      target: dir,
      whiteout: driver.whiteoutMode,
      onProgress: options.onProgress,
      signal: options.signal,
    });
  try {
    let applied: AppliedLayer;
    if (driver.whiteoutMode === "overlay") {
      mkdirSync(staging, { mode: 0o755 });
      applied = await apply(staging);
      await options.onApplied?.(applied);
      await driver.prepare(tmpKey, await options.parent);
      prepared = true;
      rmdirSync(driver.diffDir(tmpKey));
      renameSync(staging, driver.diffDir(tmpKey));
    } else {
      await driver.prepare(tmpKey, await options.parent);
      prepared = true;
      applied = await apply(driver.diffDir(tmpKey));
      await options.onApplied?.(applied);
    }
    const chainId = typeof options.chainId === "string" ? options.chainId : options.chainId(applied);
    // The same content may be committed already (an import of a known tar), or by another pull or load meanwhile.
    if (!driver.exists(chainId)) {
      try {
        await driver.commit(chainId, tmpKey);
        prepared = false;
      } catch (err) {
        if (!driver.exists(chainId)) throw err;
      }
    }
    return applied;
  } finally {
    rmSync(staging, { recursive: true, force: true });
    if (prepared) await driver.remove(tmpKey).catch(() => {});
  }
}
