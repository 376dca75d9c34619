/** The shapes shared by the native and the WASM implementations of the hot paths. */
import type { StatRecords } from "./records.ts";

/** A streaming SHA-256. */
export interface Hasher {
  update(data: Uint8Array | string): Hasher;
  /** The 32-byte digest. Ends the stream: the hasher must not be updated afterwards. */
  digest(): Uint8Array;
  digestHex(): string;
}

export const ChangeKind = { Modified: 0, Added: 1, Deleted: 2 } as const;
export type ChangeKind = (typeof ChangeKind)[keyof typeof ChangeKind];

/**
 * The compare step's output: element 2n is the change kind and 2n + 1 the record index — into the upper array for
 * Modified and Added, into the lower array for Deleted. Changes come in key order.
 */
export type DiffChanges = Uint32Array;

export type DiffCompare = (lower: StatRecords, upper: StatRecords) => DiffChanges;
