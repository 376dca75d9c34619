/**
 * Snapshot keys are opaque caller strings (chainIDs such as `sha256:<hex>`, container ids, anything). On disk each
 * becomes one directory name by a reversible escape — letters, digits, "." and "-" stay, "_" is the escape
 * character, ":" is written `_c` so digests stay readable — or, past 200 bytes, by a hash. The key itself is also
 * stored in the snapshot's metadata, so the name never needs decoding.
 */
import { GraphDriverError } from "./errors";

const MAX_NAME = 200;

export function snapshotDirName(key: string): string {
  if (key === "") throw new GraphDriverError("invalid-state", "snapshot key must not be empty");
  let name = "";
  for (const byte of new TextEncoder().encode(key)) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9.-]/.test(c)) name += c;
    else if (c === "_") name += "__";
    else if (c === ":") name += "_c";
    else name += `_x${byte.toString(16).padStart(2, "0")}`;
  }
  // A leading "." would collide with the driver's own entries (".staging") and with "." / "..".
  if (name.startsWith(".")) name = `_x2e${name.slice(1)}`;
  if (name.length > MAX_NAME) name = `_h${new Bun.CryptoHasher("sha256").update(key).digest("hex")}`;
  return name;
}
