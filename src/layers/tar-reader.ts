/**
 * A streaming reader for the tar dialects found in image layers: ustar, GNU (long names, base-256 numbers) and
 * POSIX PAX. It is our own rather than tar-stream because tar-stream decodes PAX values as UTF-8, which corrupts
 * binary extended attributes such as `security.capability`; here PAX records stay bytes.
 *
 * Where dialects disagree it follows Go's archive/tar, which wrote (and Docker reads) most layers in the wild:
 * global PAX headers are skipped, header-only entry types carry no body whatever their size field says, and an
 * input that ends on a header boundary without the two zero blocks, or right after an entry's data without its
 * padding, is accepted.
 */
import { LayerError } from "./errors";

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo";

export interface TarHeader {
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid, setgid and sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of body; only files have one. */
  size: number;
  mtimeNs: bigint;
  atimeNs: bigint;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Uint8Array>;
}

export interface TarEntry {
  header: TarHeader;
  /** The file's content in pieces. Whatever the consumer leaves unread is skipped before the next entry. */
  body: AsyncIterable<Uint8Array>;
}

const BLOCK = 512;
/** Cap on PAX and GNU long-name records, which are held in memory. */
const MAX_META_SIZE = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Entries of an uncompressed tar stream, in order. The whole input is consumed, including trailing padding. */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  try {
    yield* entriesOf(reader);
  } finally {
    // Stops the producers upstream (decompressor, download) when the consumer gives up early.
    await reader.close();
  }
}

async function* entriesOf(reader: ByteReader): AsyncGenerator<TarEntry> {
  let pending: PendingMeta = {};
  for (;;) {
    const block = await reader.read(BLOCK);
    if (block === null || isZeroBlock(block)) {
      if (pending.pax || pending.longName !== undefined || pending.longLink !== undefined) {
        throw new LayerError("invalid tar archive: extended header without an entry");
      }
      await reader.drain();
      return;
    }
    const raw = parseHeaderBlock(block);
    switch (raw.typeflag) {
      case "x":
        pending.pax = parsePax(await readMeta(reader, raw));
        continue;
      case "g":
        await reader.skip(raw.size + padding(raw.size));
        continue;
      case "L":
        pending.longName = decodeCString(await readMeta(reader, raw), "GNU long name");
        continue;
      case "K":
        pending.longLink = decodeCString(await readMeta(reader, raw), "GNU long link name");
        continue;
    }
    const header = buildHeader(raw, pending);
    pending = {};
    const body = new Body(reader, header.size);
    yield { header, body };
    await reader.skip(body.remaining);
    // Like Go's archive/tar, an input that ends right after the last entry's data (no padding, no end blocks) is
    // complete: the docker CLI sends build contexts like that (`docker build -f` with a Dockerfile from elsewhere).
    if (await reader.hasMore()) await reader.skip(padding(header.size));
  }
}

interface PendingMeta {
  pax?: Map<string, Uint8Array>;
  longName?: string;
  longLink?: string;
}

interface RawHeader {
  typeflag: string;
  name: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

class Body implements AsyncIterable<Uint8Array> {
  constructor(
    private readonly reader: ByteReader,
    public remaining: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (this.remaining > 0) {
      const piece = await this.reader.readSome(this.remaining);
      this.remaining -= piece.length;
      yield piece;
    }
  }
}

/** Pulls exact byte counts out of a stream of arbitrarily sized chunks without copying when it can. */
class ByteReader {
  private chunk: Uint8Array = new Uint8Array(0);
  private offset = 0;

  constructor(private readonly source: AsyncIterator<Uint8Array>) {}

  /** Exactly `n` bytes; null if the input ends before the first one; throws if it ends midway. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill())) return null;
    if (this.chunk.length - this.offset >= n) {
      const out = this.chunk.subarray(this.offset, this.offset + n);
      this.offset += n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const piece = await this.readSome(n - filled);
      out.set(piece, filled);
      filled += piece.length;
    }
    return out;
  }

  /** Between 1 and `n` bytes; throws at the end of input. */
  async readSome(n: number): Promise<Uint8Array> {
    if (!(await this.fill())) throw new LayerError("invalid tar archive: unexpected end of data");
    const take = Math.min(n, this.chunk.length - this.offset);
    const out = this.chunk.subarray(this.offset, this.offset + take);
    this.offset += take;
    return out;
  }

  /** Whether any input is left. */
  hasMore(): Promise<boolean> {
    return this.fill();
  }

  async skip(n: number): Promise<void> {
    while (n > 0) n -= (await this.readSome(n)).length;
  }

  async close(): Promise<void> {
    await this.source.return?.();
  }

  async drain(): Promise<void> {
    while (await this.fill()) this.offset = this.chunk.length;
  }

  private async fill(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      const next = await this.source.next();
      if (next.done) return false;
      this.chunk = next.value;
      this.offset = 0;
    }
    return true;
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function isZeroBlock(block: Uint8Array): boolean {
  for (const b of block) if (b !== 0) return false;
  return true;
}

async function readMeta(reader: ByteReader, raw: RawHeader): Promise<Uint8Array> {
  if (raw.size > MAX_META_SIZE) throw new LayerError(`invalid tar archive: extended header of ${raw.size} bytes is too large`);
  const data = raw.size === 0 ? new Uint8Array(0) : await reader.read(raw.size);
  if (data === null) throw new LayerError("invalid tar archive: unexpected end of data");
  await reader.skip(padding(raw.size));
  return data.slice();
}

function parseHeaderBlock(block: Uint8Array): RawHeader {
  verifyChecksum(block);
  const magic = ascii(block.subarray(257, 263));
  const version = ascii(block.subarray(263, 265));
  let name = decodeCString(block.subarray(0, 100), "name");
  // POSIX ustar splits long names into prefix + name; GNU uses the prefix area for other fields.
  if (magic === "ustar\0" && version === "00") {
    const prefix = decodeCString(block.subarray(345, 500), "name prefix");
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    typeflag: String.fromCharCode(block[156]!),
    name,
    linkname: decodeCString(block.subarray(157, 257), "link name"),
    mode: parseNumber(block.subarray(100, 108), "mode"),
    uid: parseNumber(block.subarray(108, 116), "uid"),
    gid: parseNumber(block.subarray(116, 124), "gid"),
    size: parseNumber(block.subarray(124, 136), "size"),
    mtime: parseNumber(block.subarray(136, 148), "mtime"),
    devmajor: parseNumber(block.subarray(329, 337), "devmajor"),
    devminor: parseNumber(block.subarray(337, 345), "devminor"),
  };
}

function verifyChecksum(block: Uint8Array): void {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += (b << 24) >> 24;
  }
  const stored = parseNumber(block.subarray(148, 156), "checksum");
  // Some old writers summed signed bytes; both are accepted, like GNU tar and Go do.
  if (stored !== unsigned && stored !== signed) {
    throw new LayerError("invalid tar archive: header checksum mismatch (is the layer corrupt or still compressed?)");
  }
}

/** Octal text, or GNU base-256 when the high bit of the first byte is set. */
function parseNumber(field: Uint8Array, what: string): number {
  if (field[0]! & 0x80) {
    if (field[0] === 0xff) throw new LayerError(`invalid tar archive: negative ${what}`);
    let value = BigInt(field[0]! & 0x7f);
    for (const b of field.subarray(1)) value = (value << 8n) | BigInt(b);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new LayerError(`invalid tar archive: ${what} is too large`);
    return Number(value);
  }
  // Octal digits, optionally padded with spaces and ended by a NUL or space; parsed from bytes (hot path).
  let value = 0;
  let i = 0;
  while (i < field.length && field[i] === 0x20) i++;
  for (; i < field.length && field[i] !== 0 && field[i] !== 0x20; i++) {
    const digit = field[i]! - 0x30;
    if (digit < 0 || digit > 7) throw new LayerError(`invalid tar archive: bad ${what} field ${JSON.stringify(ascii(field))}`);
    value = value * 8 + digit;
  }
  return value;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function decodeCString(bytes: Uint8Array, what: string): string {
  const end = bytes.indexOf(0);
  return decodeUtf8(end === -1 ? bytes : bytes.subarray(0, end), what);
}

function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new LayerError(`invalid tar archive: ${what} is not valid UTF-8`);
  }
}

/** PAX records `"<len> <key>=<value>\n"`, values kept as bytes. */
function parsePax(data: Uint8Array): Map<string, Uint8Array> {
  const records = new Map<string, Uint8Array>();
  let pos = 0;
  while (pos < data.length && data[pos] !== 0) {
    const space = data.indexOf(0x20, pos);
    const lengthText = space === -1 ? "" : ascii(data.subarray(pos, space));
    const length = /^[0-9]+$/.test(lengthText) ? parseInt(lengthText, 10) : NaN;
    if (!(length > space - pos + 1) || pos + length > data.length || data[pos + length - 1] !== 0x0a) {
      throw new LayerError("invalid tar archive: malformed PAX record");
    }
    const record = data.subarray(space + 1, pos + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new LayerError("invalid tar archive: malformed PAX record");
    records.set(decodeCString(record.subarray(0, eq), "PAX key"), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

function buildHeader(raw: RawHeader, meta: PendingMeta): TarHeader {
  let name = meta.longName ?? raw.name;
  let linkname = meta.longLink ?? raw.linkname;
  let { size, uid, gid } = raw;
  let mtimeNs = BigInt(raw.mtime) * 1_000_000_000n;
  let atimeNs: bigint | null = null;
  const xattrs = new Map<string, Uint8Array>();
  for (const [key, value] of meta.pax ?? []) {
    // An empty value only cancels a global record, and global records are ignored.
    if (value.length === 0) continue;
    // PAX values are not NUL-terminated: a NUL inside a path stays there for the extractor to refuse.
    const text = () => decodeUtf8(value, `PAX ${key}`);
    if (key.startsWith("SCHILY.xattr.")) xattrs.set(key.slice("SCHILY.xattr.".length), value);
    else if (key.startsWith("GNU.sparse.")) throw new LayerError(`invalid tar entry ${JSON.stringify(name)}: sparse files are not supported`);
    else if (key === "path") name = text();
    else if (key === "linkpath") linkname = text();
    else if (key === "size") size = parseDecimal(text(), key);
    else if (key === "uid") uid = parseDecimal(text(), key);
    else if (key === "gid") gid = parseDecimal(text(), key);
    else if (key === "mtime") mtimeNs = parseTime(text());
    else if (key === "atime") atimeNs = parseTime(text());
  }
  const type = entryType(raw.typeflag, name);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new LayerError(`invalid tar entry ${JSON.stringify(name)}: uid/gid out of range`);
  return {
    name,
    type,
    mode: raw.mode & 0o7777,
    uid,
    gid,
    size: type === "file" ? size : 0,
    mtimeNs,
    atimeNs: atimeNs ?? mtimeNs,
    linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs,
  };
}

function entryType(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case "\0":
      return name.endsWith("/") ? "directory" : "file";
    case "0":
    case "7":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
      return "directory";
    case "6":
      return "fifo";
    case "S":
      throw new LayerError(`invalid tar entry ${JSON.stringify(name)}: sparse files are not supported`);
    default:
      throw new LayerError(`invalid tar entry ${JSON.stringify(name)}: unsupported entry type ${JSON.stringify(typeflag)}`);
  }
}

function parseDecimal(text: string, key: string): number {
  if (!/^[0-9]+$/.test(text)) throw new LayerError(`invalid tar archive: bad PAX ${key} ${JSON.stringify(text)}`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new LayerError(`invalid tar archive: PAX ${key} is too large`);
  return value;
}

/** PAX time: decimal seconds with an optional fraction, to nanoseconds. */
function parseTime(text: string): bigint {
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(text);
  if (!m) throw new LayerError(`invalid tar archive: bad PAX time ${JSON.stringify(text)}`);
  const ns = BigInt(m[2]!) * 1_000_000_000n + BigInt((m[3] ?? "").slice(0, 9).padEnd(9, "0"));
  return m[1] ? -ns : ns;
}
