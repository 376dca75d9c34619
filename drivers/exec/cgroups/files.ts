/** Reading and writing cgroupfs control files, and the error they raise. */
import { closeSync, constants, openSync, readdirSync, readFileSync, rmdirSync, writeSync } from "node:fs";
import { join } from "node:path";

export class CgroupError extends Error {
  override name = "CgroupError";
  constructor(
    message: string,
    /** errno name (ENOENT, EINVAL, EBUSY…) when the kernel refused. */
    readonly code?: string,
  ) {
    super(message);
  }
}

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

function isMissing(err: unknown): boolean {
  return errnoCode(err) === "ENOENT";
}

/**
 * Writes one value the way the kernel expects it (open without create, truncate, one write): a missing file
 * means the controller is not there, which is reported as such instead of creating a stray file.
 */
export function writeControl(path: string, value: string | number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  } catch (err) {
    if (isMissing(err)) throw new CgroupError(`${path} does not exist (controller not enabled for this cgroup?)`, "ENOENT");
    throw new CgroupError(`open ${path}: ${(err as Error).message}`, errnoCode(err));
  }
  try {
    writeSync(fd, String(value));
  } catch (err) {
    throw new CgroupError(`write ${JSON.stringify(String(value))} to ${path}: ${errnoCode(err) ?? (err as Error).message}`, errnoCode(err));
  } finally {
    closeSync(fd);
  }
}

export function readControl(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new CgroupError(`read ${path}: ${errnoCode(err) ?? (err as Error).message}`, errnoCode(err));
  }
}

/** The file's content, or undefined when it does not exist (a controller or kernel feature that is absent). */
export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new CgroupError(`read ${path}: ${errnoCode(err) ?? (err as Error).message}`, errnoCode(err));
  }
}

/** Parses "key value" lines (memory.stat, cpu.stat, memory.events, oom_control…). */
export function parseKeyValues(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? "").split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/** A number, or undefined for "max"/"-1"/missing (no limit). */
export function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined || text === "max" || text === "-1") return undefined;
  const n = Number(text.split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

export function subCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name));
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/**
 * rmdir of a cgroup and its sub-cgroups, deepest first. EBUSY means sub-cgroups are left (they are removed
 * first, then the rmdir is tried again) or processes are still leaving (killed ones take a moment to exit), so
 * it retries until the deadline. The usual cgroup, a leaf whose processes are gone, costs one rmdir.
 */
export async function removeCgroupTree(dir: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || Date.now() > deadline) {
        throw new CgroupError(`rmdir ${dir}: ${code ?? (err as Error).message}`, code);
      }
    }
    if (attempt === 0) for (const child of subCgroups(dir)) await removeCgroupTree(child, timeoutMs);
    else await Bun.sleep(10);
  }
}

/** Polls `check` until it holds or the deadline passes. */
export async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(5);
  }
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Container ids become directory names: refuse anything that could walk out of the parent. */
export function checkCgroupName(id: string): string {
  if (!ID_PATTERN.test(id) || id.length > 255) throw new CgroupError(`invalid cgroup name ${JSON.stringify(id)}`, "EINVAL");
  return id;
}
