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
  body: TarBody;
}

/** The file's content in pieces. Whatever the consumer leaves unread is skipped before the next entry. */
export interface TarBody extends AsyncIterable<Uint8Array> {
  /**
   * All of the content that is left, if it is already buffered (always true of an empty body), else null. Lets a
   * consumer write a small file without waiting on a promise per piece.
   */
  takeBuffered(): Uint8Array | null;
}

const BLOCK = 512;
/** Cap on PAX and GNU long-name records, which are held in memory. */
const MAX_META_SIZE = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Entries of an uncompressed tar stream, in order. The whole input is consumed, including trailing padding. */
export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new TarReader(source);
  try {
    for (let entry = await reader.next(); entry !== null; entry = await reader.next()) yield entry;
  } finally {
    await reader.close();
  }
}

/**
 * readTar without the async generator, for a consumer of many small entries: `next()` returns an entry whose
 * header is already buffered directly, so only running out of input costs an await. (A generator step and an
 * await per entry cost about as much as parsing the header: ~1 µs.)
 */
export class TarReader {
  private readonly bytes: ByteReader;
  /** The last entry's body, whose unread rest and padding are skipped before the next header. */
  private body: Body | null = null;
  private ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.bytes = new ByteReader(source[Symbol.asyncIterator]());
  }

  /** The next entry, or null after the last one (the input is then fully consumed). */
  next(): TarEntry | null | Promise<TarEntry | null> {
    return this.nextBuffered() ?? this.nextAwaiting();
  }

  /** Stops the producers upstream (decompressor, download) when the consumer gives up early. */
  close(): Promise<void> {
    return this.bytes.close();
  }

  /** The next plain entry if it needs no input beyond what is buffered, else undefined (nothing consumed). */
  private nextBuffered(): TarEntry | undefined {
    if (this.ended) return undefined;
    if (this.body) {
      const size = this.body.size;
      if (!this.bytes.trySkip(this.body.remaining + padding(size))) return undefined;
      this.body = null;
    }
    const block = this.bytes.peek(BLOCK);
    if (block === null || isZeroBlock(block) || META_TYPEFLAGS.includes(block[156]!)) return undefined;
    this.bytes.trySkip(BLOCK);
    return this.entry(parseHeaderBlock(block), {});
  }

  private async nextAwaiting(): Promise<TarEntry | null> {
    if (this.ended) return null;
    if (this.body) {
      await this.bytes.skip(this.body.remaining);
      // Like Go's archive/tar, an input that ends right after the last entry's data (no padding, no end blocks) is
      // complete: the docker CLI sends build contexts like that (`docker build -f` with a Dockerfile from elsewhere).
      const pad = padding(this.body.size);
      if (pad !== 0 && (await this.bytes.hasMore())) await this.bytes.skip(pad);
      this.body = null;
    }
    const pending: PendingMeta = {};
    for (;;) {
      const block = await this.bytes.read(BLOCK);
      if (block === null || isZeroBlock(block)) {
        if (pending.pax || pending.longName !== undefined || pending.longLink !== undefined) {
          throw new LayerError("invalid tar archive: extended header without an entry");
        }
        this.ended = true;
        await this.bytes.drain();
        return null;
      }
      const raw = parseHeaderBlock(block);
      switch (raw.typeflag) {
        case "x":
          pending.pax = parsePax(await readMeta(this.bytes, raw));
          continue;
        case "g":
          await this.bytes.skip(raw.size + padding(raw.size));
          continue;
        case "L":
          pending.longName = decodeCString(await readMeta(this.bytes, raw), 0, raw.size, "GNU long name");
          continue;
        case "K":
          pending.longLink = decodeCString(await readMeta(this.bytes, raw), 0, raw.size, "GNU long link name");
          continue;
      }
      return this.entry(raw, pending);
    }
  }

  private entry(raw: RawHeader, pending: PendingMeta): TarEntry {
    const header = buildHeader(raw, pending);
    this.body = new Body(this.bytes, header.size);
    return { header, body: this.body };
  }
}

/** Type flags of headers that describe the next entry (PAX, GNU long names) or nothing (global PAX). */
const META_TYPEFLAGS = ["x", "g", "L", "K"].map((flag) => flag.charCodeAt(0));

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

class Body implements TarBody {
  remaining: number;

  constructor(
    private readonly reader: ByteReader,
    readonly size: number,
  ) {
    this.remaining = size;
  }

  takeBuffered(): Uint8Array | null {
    const all = this.reader.take(this.remaining);
    if (all !== null) this.remaining = 0;
    return all;
  }

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

  /** Exactly `n` bytes if they are already buffered, else null; nothing is consumed. */
  peek(n: number): Uint8Array | null {
    return this.chunk.length - this.offset < n ? null : this.chunk.subarray(this.offset, this.offset + n);
  }

  /** Exactly `n` bytes if they are already buffered, else null (and nothing is consumed). */
  take(n: number): Uint8Array | null {
    const out = this.peek(n);
    if (out !== null) this.offset += n;
    return out;
  }

  /** Skips `n` bytes if they are already buffered; false (and nothing is consumed) otherwise. */
  trySkip(n: number): boolean {
    if (this.chunk.length - this.offset < n) return false;
    this.offset += n;
    return true;
  }

  /** Exactly `n` bytes; null if the input ends before the first one; throws if it ends midway. */
  async read(n: number): Promise<Uint8Array | null> {
    if (!(await this.fill())) return null;
    const buffered = this.take(n);
    if (buffered !== null) return buffered;
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
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

async function readMeta(reader: ByteReader, raw: RawHeader): Promise<Uint8Array> {
  if (raw.size > MAX_META_SIZE) throw new LayerError(`invalid tar archive: extended header of ${raw.size} bytes is too large`);
  const data = raw.size === 0 ? new Uint8Array(0) : await reader.read(raw.size);
  if (data === null) throw new LayerError("invalid tar archive: unexpected end of data");
  await reader.skip(padding(raw.size));
  return data.slice();
}

/** Fields are read in place by offset: a subarray per field costs more than parsing it. */
function parseHeaderBlock(block: Uint8Array): RawHeader {
  verifyChecksum(block);
  let name = decodeCString(block, 0, 100, "name");
  // POSIX ustar ("ustar\0" "00") splits long names into prefix + name; GNU uses the prefix area for other fields.
  if (matches(block, 257, USTAR_MAGIC_VERSION)) {
    const prefix = decodeCString(block, 345, 500, "name prefix");
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    typeflag: String.fromCharCode(block[156]!),
    name,
    linkname: decodeCString(block, 157, 257, "link name"),
    mode: parseNumber(block, 100, 108, "mode"),
    uid: parseNumber(block, 108, 116, "uid"),
    gid: parseNumber(block, 116, 124, "gid"),
    size: parseNumber(block, 124, 136, "size"),
    mtime: parseNumber(block, 136, 148, "mtime"),
    devmajor: parseNumber(block, 329, 337, "devmajor"),
    devminor: parseNumber(block, 337, 345, "devminor"),
  };
}

const USTAR_MAGIC_VERSION = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30];

function matches(block: Uint8Array, at: number, expected: readonly number[]): boolean {
  for (let i = 0; i < expected.length; i++) if (block[at + i] !== expected[i]) return false;
  return true;
}

/** The sum of the header's bytes, its checksum field counted as spaces; the signed sum follows from the bytes ≥ 0x80. */
function verifyChecksum(block: Uint8Array): void {
  let unsigned = 8 * 0x20;
  let highBytes = 0;
  for (let i = 0; i < 148; i++) {
    unsigned += block[i]!;
    highBytes += block[i]! >> 7;
  }
  for (let i = 156; i < BLOCK; i++) {
    unsigned += block[i]!;
    highBytes += block[i]! >> 7;
  }
  const signed = unsigned - 256 * highBytes;
  const stored = parseNumber(block, 148, 156, "checksum");
  // Some old writers summed signed bytes; both are accepted, like GNU tar and Go do.
  if (stored !== unsigned && stored !== signed) {
    throw new LayerError("invalid tar archive: header checksum mismatch (is the layer corrupt or still compressed?)");
  }
}

/** The number in `block[start, end)`: octal text, or GNU base-256 when the high bit of the first byte is set. */
function parseNumber(block: Uint8Array, start: number, end: number, what: string): number {
  if (block[start]! & 0x80) {
    if (block[start] === 0xff) throw new LayerError(`invalid tar archive: negative ${what}`);
    let value = BigInt(block[start]! & 0x7f);
    for (let i = start + 1; i < end; i++) value = (value << 8n) | BigInt(block[i]!);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new LayerError(`invalid tar archive: ${what} is too large`);
    return Number(value);
  }
  // Octal digits, optionally padded with spaces and ended by a NUL or space.
  let value = 0;
  let i = start;
  while (i < end && block[i] === 0x20) i++;
  for (; i < end && block[i] !== 0 && block[i] !== 0x20; i++) {
    const digit = block[i]! - 0x30;
    if (digit < 0 || digit > 7) {
      throw new LayerError(`invalid tar archive: bad ${what} field ${JSON.stringify(ascii(block.subarray(start, end)))}`);
    }
    value = value * 8 + digit;
  }
  return value;
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** The UTF-8 text in `bytes[start, end)` up to the first NUL. */
function decodeCString(bytes: Uint8Array, start: number, end: number, what: string): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  return stop === start ? "" : decodeUtf8(bytes.subarray(start, stop), what);
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
    records.set(decodeCString(record, 0, eq, "PAX key"), record.slice(eq + 1));
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
