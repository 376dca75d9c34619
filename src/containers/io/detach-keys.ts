/**
 * Detach keys (`ctrl-p,ctrl-q` by default): a sequence that, typed on an attached stdin, ends the attachment
 * and leaves the container running. Bytes of a partial match are held back until the sequence completes or
 * breaks, then forwarded.
 */
import { InvalidParameterError } from "../../errors";

export const DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q";

/** "ctrl-p,ctrl-q" → [0x10, 0x11]; "a,ctrl-@" → [0x61, 0x00]. */
export function parseDetachKeys(spec: string): Uint8Array {
  const out: number[] = [];
  for (const key of spec.split(",")) {
    const k = key.trim();
    if (k.length === 1) out.push(k.charCodeAt(0));
    else if (/^ctrl-[a-z@[\\\]^_]$/.test(k)) {
      const c = k.charCodeAt(5);
      out.push(c >= 97 && c <= 122 ? c - 96 : c - 64);
    } else throw new InvalidParameterError(`Invalid detach keys (${spec}) provided`);
  }
  return Uint8Array.from(out);
}

export class DetachScanner {
  private matched = 0;

  constructor(private readonly keys: Uint8Array) {}

  /** The bytes to forward, and whether the sequence was completed (then the attachment ends). */
  push(chunk: Uint8Array): { forward: Uint8Array; detach: boolean } {
    if (this.keys.length === 0 || (this.matched === 0 && !chunk.includes(this.keys[0]!))) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Uint8Array.from(out), detach: true };
        continue;
      }
      for (let i = 0; i < this.matched; i++) out.push(this.keys[i]!);
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { forward: Uint8Array.from(out), detach: false };
  }
}
