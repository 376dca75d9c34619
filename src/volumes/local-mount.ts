/**
 * The local driver's options (`docker volume create -o type=tmpfs -o device=tmpfs -o o=size=100m`, or
 * `type=none,o=bind,device=/path`): validated like moby's local driver, and mounted on the volume's `_data` directory
 * while any container uses the volume.
 */
import { readFileSync } from "node:fs";
import { MNT_DETACH, MS, mount, SysError, umount } from "../../drivers/libc/libc";
import { InvalidParameterError } from "../errors";

const VALID_OPTIONS = ["type", "device", "o"];
/** An option that is given needs these too. */
const REQUIRED_WITH: Record<string, string[]> = { type: ["device"], device: ["type"], o: ["device", "type"] };

/** mount(8) words that are flags rather than data for the filesystem. */
const FLAG_WORDS: Record<string, { set?: number; clear?: number }> = {
  ro: { set: MS.RDONLY },
  rw: { clear: MS.RDONLY },
  bind: { set: MS.BIND },
  rbind: { set: MS.BIND | MS.REC },
  nosuid: { set: MS.NOSUID },
  suid: { clear: MS.NOSUID },
  nodev: { set: MS.NODEV },
  dev: { clear: MS.NODEV },
  noexec: { set: MS.NOEXEC },
  exec: { clear: MS.NOEXEC },
};

const EBUSY = 16;
const EINVAL = 22;

export function validateLocalOptions(options: Record<string, string>): void {
  for (const key of Object.keys(options)) {
    if (!VALID_OPTIONS.includes(key)) throw new InvalidParameterError(`invalid option: "${key}"`);
  }
  for (const [key, required] of Object.entries(REQUIRED_WITH)) {
    if (!(key in options)) continue;
    for (const other of required) if (!(other in options)) throw new InvalidParameterError(`missing required option: "${other}"`);
  }
}

/** Whether the options ask for a mount at all (a plain volume is just its directory). */
export function needsMount(options: Record<string, string>): boolean {
  return options.type !== undefined;
}

/** Mount what `options` describe on `target`. */
export function mountLocal(target: string, options: Record<string, string>): void {
  let flags = 0;
  const data: string[] = [];
  for (const word of (options.o ?? "").split(",").filter(Boolean)) {
    const flag = FLAG_WORDS[word];
    if (flag) flags = (flags | (flag.set ?? 0)) & ~(flag.clear ?? 0);
    else data.push(word);
  }
  const device = options.device ?? "";
  if (flags & MS.BIND) {
    mount(device, target, null, flags & (MS.BIND | MS.REC));
    const remount = flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC);
    if (remount) mount(null, target, null, MS.REMOUNT | MS.BIND | remount);
    return;
  }
  mount(device, target, options.type ?? null, flags, data.length ? data.join(",") : null);
}

export function unmountLocal(target: string): void {
  try {
    umount(target);
  } catch (err) {
    if (err instanceof SysError && err.errno === EINVAL) return; // not mounted
    if (err instanceof SysError && err.errno === EBUSY) return umount(target, MNT_DETACH);
    throw err;
  }
}

/** Whether something is mounted exactly at `path` in the daemon's mount namespace. */
export function isMountPoint(path: string): boolean {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const mountPoint = line.split(" ")[4];
    if (mountPoint !== undefined && unescapeMountinfo(mountPoint) === path) return true;
  }
  return false;
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
