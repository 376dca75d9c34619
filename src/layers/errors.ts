import { SystemError } from "../errors";

/**
 * A layer could not be applied: the archive is malformed, hostile (an entry would land outside the layer root),
 * or the host refused an operation. The message names the offending entry. The caller deletes the partial layer.
 */
export class LayerError extends SystemError {}

/** The content does not hash to the digest it was fetched or declared under. */
export class DigestMismatchError extends LayerError {
  constructor(
    readonly what: "layer" | "diffID",
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      what === "layer"
        ? `failed to verify layer ${expected}: digest mismatch: expected ${expected}, got ${actual}`
        : `failed to verify layer: diffID mismatch: expected ${expected}, got ${actual}`,
    );
  }
}
