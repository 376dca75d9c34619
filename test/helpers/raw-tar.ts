/**
 * A tar writer that checks nothing, for hostile archives: any name (`..`, absolute, NUL, 300 bytes), any link
 * target, any declared size (octal or GNU base-256) whatever the body, PAX records with binary values, GNU long
 * names, and archives cut short. test/fixtures/tar.ts builds the well-formed ones.
 */

export type RawType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

export interface RawEntry {
  name: string;
  type?: RawType;
  body?: Uint8Array | string;
  /** Declared size; defaults to the body's length. */
  size?: number | bigint;
  /** Write the size in GNU base-256 even when it fits in octal. */
  base256Size?: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  /** seconds */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records emitted in an 'x' header before the entry. */
  pax?: Record<string, string | Uint8Array>;
  /** Put the name in a GNU 'L' record instead of (or as well as) the header. */
  gnuLongName?: boolean;
}

const TYPEFLAG: Record<RawType, string> = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };
const encoder = new TextEncoder();

export function rawTar(entries: RawEntry[], options: { endMarker?: boolean; truncateTo?: number } = {}): Uint8Array<ArrayBuffer> {
  const blocks: Uint8Array[] = [];
  for (const entry of entries) {
    if (entry.pax) {
      const records = paxRecords(entry.pax);
      blocks.push(header({ name: "PaxHeader", typeflag: "x", size: records.length }), padded(records));
    }
    if (entry.gnuLongName) {
      const name = encoder.encode(`${entry.name}\0`);
      blocks.push(header({ name: "././@LongLink", typeflag: "L", size: name.length }), padded(name));
    }
    const body = typeof entry.body === "string" ? encoder.encode(entry.body) : (entry.body ?? new Uint8Array(0));
    blocks.push(
      header({
        name: entry.name,
        typeflag: TYPEFLAG[entry.type ?? "file"],
        size: entry.size ?? body.length,
        base256Size: entry.base256Size,
        mode: entry.mode ?? (entry.type === "dir" ? 0o755 : 0o644),
        uid: entry.uid ?? 0,
        gid: entry.gid ?? 0,
        mtime: entry.mtime ?? 1_700_000_000,
        linkname: entry.linkname ?? "",
        devmajor: entry.devmajor ?? 0,
        devminor: entry.devminor ?? 0,
      }),
      padded(body),
    );
  }
  if (options.endMarker !== false) blocks.push(new Uint8Array(1024));
  const tar = concat(blocks);
  return options.truncateTo === undefined ? tar : tar.subarray(0, options.truncateTo);
}

interface HeaderFields {
  name: string;
  typeflag: string;
  size: number | bigint;
  base256Size?: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function header(f: HeaderFields): Uint8Array {
  const block = new Uint8Array(512);
  putString(block, 0, 100, f.name);
  putOctal(block, 100, 8, f.mode ?? 0o644);
  putOctal(block, 108, 8, f.uid ?? 0);
  putOctal(block, 116, 8, f.gid ?? 0);
  putSize(block, f.size, f.base256Size ?? false);
  putOctal(block, 136, 12, f.mtime ?? 1_700_000_000);
  block[156] = f.typeflag.charCodeAt(0);
  putString(block, 157, 100, f.linkname ?? "");
  block.set(encoder.encode("ustar\x0000"), 257);
  putOctal(block, 329, 8, f.devmajor ?? 0);
  putOctal(block, 337, 8, f.devminor ?? 0);
  block.fill(0x20, 148, 156);
  const sum = block.reduce((a, b) => a + b, 0);
  putString(block, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

function putString(block: Uint8Array, offset: number, length: number, value: string): void {
  block.set(encoder.encode(value).subarray(0, length), offset);
}

function putOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  putString(block, offset, length, `${value.toString(8).padStart(length - 1, "0")}\0`);
}

/** Octal when it fits 11 digits (unless `base256`), GNU base-256 otherwise. */
function putSize(block: Uint8Array, size: number | bigint, base256: boolean): void {
  const value = BigInt(size);
  if (value < 8n ** 11n && !base256) return putOctal(block, 124, 12, Number(value));
  let rest = value;
  for (let i = 135; i > 124; i--) {
    block[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  block[124] = 0x80;
}

function paxRecords(records: Record<string, string | Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, raw] of Object.entries(records)) {
    const value = typeof raw === "string" ? encoder.encode(raw) : raw;
    const body = concat([encoder.encode(` ${key}=`), value, encoder.encode("\n")]);
    // The length prefix counts its own digits.
    let length = body.length + 1;
    while (String(length).length + body.length !== length) length = String(length).length + body.length;
    parts.push(encoder.encode(String(length)), body);
  }
  return concat(parts);
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** The bytes as a stream of `size`-byte chunks, so readers meet headers split across chunk boundaries. */
export async function* chunked(bytes: Uint8Array, size = 4096): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}
