/**
 * Encodes tar headers for archives we produce from file trees (layer diffs, `docker export`, `docker cp`): the
 * counterpart of tar-reader.ts, over the same TarHeader shape. Fields that fit ustar are written there; anything
 * that does not (long or non-ASCII names and link targets, large ids or sizes, extended attributes) goes into a
 * PAX record block before the entry, like Go's archive/tar does, so Docker and GNU tar read the result.
 * Times are written in whole seconds, as Docker's archives do.
 */
import type { TarEntryType, TarHeader } from "./tar-reader";
import { concatBytes } from "../../drivers/util/bytes";

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, number> = { file: 0x30, hardlink: 0x31, symlink: 0x32, char: 0x33, block: 0x34, directory: 0x35, fifo: 0x36 };
/** Largest value of an octal field of `width` bytes (one byte is the terminator). */
const octalMax = (width: number) => 8 ** (width - 1) - 1;

const encoder = new TextEncoder();

/** Two zero blocks: the end of an archive. */
export const TAR_END: Uint8Array = new Uint8Array(BLOCK * 2);

/** Zero bytes that complete a body of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The header block of `header`, preceded by a PAX block when ustar cannot hold every field. */
export function encodeTarHeader(header: TarHeader): Uint8Array {
  const name = header.type === "directory" && !header.name.endsWith("/") ? `${header.name}/` : header.name;
  const pax = new Map<string, Uint8Array>();
  const split = splitUstarName(name);
  if (split === null) pax.set("path", encoder.encode(name));
  const linkBytes = encoder.encode(header.linkname);
  if (linkBytes.length > 100 || !isAscii(header.linkname)) pax.set("linkpath", linkBytes);
  if (header.uid > octalMax(8)) pax.set("uid", encoder.encode(String(header.uid)));
  if (header.gid > octalMax(8)) pax.set("gid", encoder.encode(String(header.gid)));
  if (header.size > octalMax(12)) pax.set("size", encoder.encode(String(header.size)));
  const mtime = Number(header.mtimeNs / 1_000_000_000n) - (header.mtimeNs < 0n && header.mtimeNs % 1_000_000_000n !== 0n ? 1 : 0);
  if (mtime < 0 || mtime > octalMax(12)) pax.set("mtime", encoder.encode(String(mtime)));
  for (const [key, value] of header.xattrs) pax.set(`SCHILY.xattr.${key}`, value);

  const block = new Uint8Array(BLOCK);
  putBytes(block, 0, 100, encoder.encode(split?.name ?? truncated(name, 100)));
  putOctal(block, 100, 8, header.mode & 0o7777);
  putOctal(block, 108, 8, Math.min(header.uid, octalMax(8)));
  putOctal(block, 116, 8, Math.min(header.gid, octalMax(8)));
  putOctal(block, 124, 12, header.type === "file" ? Math.min(header.size, octalMax(12)) : 0);
  putOctal(block, 136, 12, Math.min(Math.max(mtime, 0), octalMax(12)));
  block[156] = TYPEFLAG[header.type];
  putBytes(block, 157, 100, linkBytes.length > 100 ? linkBytes.subarray(0, 100) : linkBytes);
  putBytes(block, 257, 6, encoder.encode("ustar\0"));
  putBytes(block, 263, 2, encoder.encode("00"));
  if (header.type === "char" || header.type === "block") {
    putOctal(block, 329, 8, Math.min(header.devmajor, octalMax(8)));
    putOctal(block, 337, 8, Math.min(header.devminor, octalMax(8)));
  }
  putBytes(block, 345, 155, encoder.encode(split?.prefix ?? ""));
  checksum(block);
  if (pax.size === 0) return block;

  const records = paxRecords(pax);
  const paxHeader = new Uint8Array(BLOCK);
  putBytes(paxHeader, 0, 100, encoder.encode(truncated(`PaxHeaders.0/${name.replace(/\/$/, "").split("/").at(-1) ?? ""}`, 100)));
  putOctal(paxHeader, 100, 8, 0o644);
  putOctal(paxHeader, 124, 12, records.length);
  putOctal(paxHeader, 136, 12, Math.min(Math.max(mtime, 0), octalMax(12)));
  paxHeader[156] = 0x78; // 'x'
  putBytes(paxHeader, 257, 6, encoder.encode("ustar\0"));
  putBytes(paxHeader, 263, 2, encoder.encode("00"));
  checksum(paxHeader);
  return concatBytes([paxHeader, records, tarPadding(records.length), block]);
}

/** ustar holds a name of up to 100 bytes, or a prefix of up to 155 and a name of up to 100 split at a slash. */
function splitUstarName(name: string): { prefix: string; name: string } | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return { prefix: "", name };
  for (let i = name.indexOf("/"); i >= 0 && i <= 155; i = name.indexOf("/", i + 1)) {
    const rest = name.slice(i + 1);
    if (rest.length > 0 && rest.length <= 100) return { prefix: name.slice(0, i), name: rest };
  }
  return null;
}

/** `"<length> <key>=<value>\n"`, where the length counts the whole record including its own digits. */
function paxRecords(records: Map<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [key, value] of records) {
    const body = encoder.encode(` ${key}=`).length + value.length + 1;
    let length = body + String(body).length;
    if (String(length).length !== String(body).length) length = body + String(length).length;
    parts.push(encoder.encode(`${length} ${key}=`), value, encoder.encode("\n"));
  }
  return concatBytes(parts);
}

function checksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  putBytes(block, 148, 8, encoder.encode(`${sum.toString(8).padStart(6, "0")}\0 `));
}

function putOctal(block: Uint8Array, offset: number, width: number, value: number): void {
  putBytes(block, offset, width, encoder.encode(`${value.toString(8).padStart(width - 1, "0")}\0`));
}

function putBytes(block: Uint8Array, offset: number, width: number, bytes: Uint8Array): void {
  block.set(bytes.length > width ? bytes.subarray(0, width) : bytes, offset);
}

function truncated(text: string, bytes: number): string {
  const encoded = encoder.encode(text);
  return encoded.length <= bytes ? text : new TextDecoder().decode(encoded.subarray(0, bytes)).replace(/\uFFFD+$/, "");
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7e || text.charCodeAt(i) < 0x20) return false;
  return true;
}

