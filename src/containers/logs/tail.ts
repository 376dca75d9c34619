/**
 * Following a json-file log that another process (the keeper) appends to: reads what was added since the last
 * read, and keeps up with rotation (the path names a new file: the old one is read to its end first) and with
 * truncation in place (max-file 1: reading starts over at the top).
 */
import { closeSync, fstatSync, openSync, statSync } from "node:fs";
import { parseEntries, type LogEntry } from "./json-file";
import { readRange } from "./reader";

const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

export class LogTail {
  constructor(
    private readonly path: string,
    /** The current file, already read up to `offset` (null: it did not exist yet). */
    private fd: number | null,
    private offset: number,
  ) {}

  /** Complete entries written since the last read. */
  read(): LogEntry[] {
    if (this.fd === null && !this.reopen()) return [];
    const entries = this.drain();
    if (this.rotated() && this.reopen()) entries.push(...this.drain());
    return entries;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private drain(): LogEntry[] {
    const size = fstatSync(this.fd!).size;
    if (size < this.offset || (this.offset > 0 && size > this.offset && !this.atEntryStart())) this.offset = 0;
    if (size === this.offset) return [];
    const bytes = readRange(this.fd!, this.offset, size);
    // A line still being written stays for the next read.
    const end = bytes.lastIndexOf(NEWLINE) + 1;
    this.offset += end;
    return parseEntries(bytes.subarray(0, end).toString("utf8"));
  }

  /**
   * Whether the offset still falls between two entries: a file truncated and written again past the offset
   * before this read (the keeper's max-file 1) almost never has a line boundary exactly there.
   */
  private atEntryStart(): boolean {
    const around = readRange(this.fd!, this.offset - 1, this.offset + 1);
    return around[0] === NEWLINE && around[1] === OPEN_BRACE;
  }

  private rotated(): boolean {
    try {
      return statSync(this.path).ino !== fstatSync(this.fd!).ino;
    } catch {
      return false; // between the rename and the new file's creation
    }
  }

  private reopen(): boolean {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch {
      return false;
    }
    this.close();
    this.fd = fd;
    this.offset = 0;
    return true;
  }
}
