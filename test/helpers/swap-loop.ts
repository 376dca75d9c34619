/**
 * Exchanges two paths atomically (renameat2 RENAME_EXCHANGE) in a tight loop until killed: both names always exist,
 * one a directory and the other a symlink, so a racing reader or writer only ever sees one of the two.
 * Usage: bun test/helpers/swap-loop.ts <a> <b>
 */
import { cstr, syscall } from "../../drivers/libc/libc";

const RENAMEAT2 = process.arch === "arm64" ? 276 : 316;
const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;

const [a, b] = process.argv.slice(2);
if (!a || !b) throw new Error("usage: swap-loop.ts <a> <b>");
const pathA = cstr(a);
const pathB = cstr(b);
for (;;) syscall(RENAMEAT2, AT_FDCWD, pathA, AT_FDCWD, pathB, RENAME_EXCHANGE);
