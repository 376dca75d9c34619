/**
 * Turning a snapshot into a mounted root filesystem. Drivers describe what to mount as a MountPlan; this module
 * performs it (or describes it as MountSpecs for a caller that mounts elsewhere).
 *
 * Overlay uses the new mount API: one `fsconfig(FSCONFIG_SET_STRING, "lowerdir+", dir)` per layer, so the number
 * of layers is bounded by the kernel's stacking limit (500), not by mount(2)'s one-page option string, which holds
 * only ~46 absolute lowerdirs (bun-facts.md Q2). Kernels without fsopen (ENOSYS) or without "lowerdir+" (before
 * 6.8) fall back to mount(2) when the options fit in a page.
 */
import { close as closeOnPool } from "node:fs";
import { close, fsconfigCreate, fsconfigString, fsmount, fsopen, MNT_DETACH, mount, MOUNT_ATTR, moveMountTo, MS, O, open, readFd, SysError, umount } from "../libc/libc";
import { GraphDriverError } from "./errors";
import type { MountSpec } from "./types";

export type MountPlan = { type: "bind"; source: string; readonly: boolean } | OverlayPlan;

/** `lowers` nearest first; without `upper` the mount is read-only and needs at least two lowers. */
export interface OverlayPlan {
  type: "overlay";
  lowers: string[];
  upper?: { dir: string; work: string };
}

export type OverlayApi = "auto" | "legacy";

const ENOENT = 2;
const EINVAL = 22;
const ENOSYS = 38;
/** fsconfig copies string values with strndup_user(value, 256). */
const FSCONFIG_MAX_VALUE = 255;
const PAGE_SIZE = 4096;

export function mountSpecsOf(plan: MountPlan): MountSpec[] {
  if (plan.type === "bind") return [{ type: "bind", source: plan.source, options: ["bind", plan.readonly ? "ro" : "rw"] }];
  const options = [`lowerdir=${plan.lowers.map(escapeOverlayPath).join(":")}`];
  if (plan.upper) options.push(`upperdir=${escapeOverlayPath(plan.upper.dir)}`, `workdir=${escapeOverlayPath(plan.upper.work)}`);
  else options.push("ro");
  return [{ type: "overlay", source: "overlay", options }];
}

export function mountPlanAt(plan: MountPlan, target: string, api: OverlayApi = "auto"): void {
  if (plan.type === "bind") bindMount(plan.source, target, plan.readonly);
  else mountOverlay(plan, target, api);
}

/** Unmount `target`; nothing happens when nothing is mounted there. */
export function unmountAt(target: string): void {
  try {
    umount(target);
  } catch (err) {
    if (err instanceof SysError && (err.errno === EINVAL || err.errno === ENOENT)) return;
    throw err;
  }
}

/**
 * Take the filesystem at `target` out of the mount table now and let the kernel release it in the background;
 * resolves once it has. The last release of a writable overlay syncs its whole upper filesystem (syncfs: a
 * millisecond on a quiet host, far more on a busy one), so a descriptor holds the mount across the detach and
 * is closed on a pool thread, where that release then runs. Nothing mounted there: resolves at once.
 */
export function detachAt(target: string): Promise<void> {
  let fd: number;
  try {
    fd = open(target, O.PATH | O.DIRECTORY | O.CLOEXEC);
  } catch (err) {
    if (err instanceof SysError && err.errno === ENOENT) return Promise.resolve();
    throw err;
  }
  try {
    umount(target, MNT_DETACH);
  } catch (err) {
    close(fd);
    if (err instanceof SysError && err.errno === EINVAL) return Promise.resolve();
    throw err;
  }
  return new Promise((resolve) => closeOnPool(fd, () => resolve()));
}

function bindMount(source: string, target: string, readonly: boolean): void {
  mount(source, target, null, MS.BIND);
  if (!readonly) return;
  try {
    // A bind mount only becomes read-only through a remount of that mount.
    mount(null, target, null, MS.REMOUNT | MS.BIND | MS.RDONLY);
  } catch (err) {
    umount(target);
    throw err;
  }
}

function mountOverlay(plan: OverlayPlan, target: string, api: OverlayApi): void {
  if (api === "auto" && [...plan.lowers, plan.upper?.dir ?? "", plan.upper?.work ?? ""].every((p) => Buffer.byteLength(p) <= FSCONFIG_MAX_VALUE)) {
    try {
      return mountOverlayWithFsconfig(plan, target);
    } catch (err) {
      if (!(err instanceof NewMountApiUnavailable)) throw err;
    }
  }
  mountOverlayLegacy(plan, target);
}

class NewMountApiUnavailable extends Error {}

function mountOverlayWithFsconfig(plan: OverlayPlan, target: string): void {
  let fsfd: number;
  try {
    fsfd = fsopen("overlay");
  } catch (err) {
    if (err instanceof SysError && err.errno === ENOSYS) throw new NewMountApiUnavailable();
    throw err;
  }
  try {
    plan.lowers.forEach((dir, i) => {
      try {
        fsconfigString(fsfd, "lowerdir+", dir);
      } catch (err) {
        if (i === 0 && err instanceof SysError && err.errno === EINVAL) throw new NewMountApiUnavailable();
        throw err;
      }
    });
    if (plan.upper) {
      fsconfigString(fsfd, "upperdir", plan.upper.dir);
      fsconfigString(fsfd, "workdir", plan.upper.work);
    }
    // The inodes index ties layers to one mount; with it on, sharing lowers between containers breaks.
    fsconfigString(fsfd, "index", "off");
    fsconfigCreate(fsfd);
    const mountFd = fsmount(fsfd, plan.upper ? 0 : MOUNT_ATTR.RDONLY);
    try {
      moveMountTo(mountFd, target);
    } finally {
      close(mountFd);
    }
  } catch (err) {
    if (err instanceof NewMountApiUnavailable) throw err;
    const log = kernelLog(fsfd);
    if (log && err instanceof Error) err.message += ` (kernel: ${log})`;
    throw err;
  } finally {
    close(fsfd);
  }
}

function mountOverlayLegacy(plan: OverlayPlan, target: string): void {
  const options = [`lowerdir=${plan.lowers.map(escapeOverlayPath).join(":")}`];
  if (plan.upper) options.push(`upperdir=${escapeOverlayPath(plan.upper.dir)}`, `workdir=${escapeOverlayPath(plan.upper.work)}`);
  options.push("index=off");
  const data = options.join(",");
  // The kernel silently truncates the option page and then fails with a misleading ENOENT.
  if (Buffer.byteLength(data) >= PAGE_SIZE) {
    throw new GraphDriverError(
      "unsupported",
      `cannot mount ${plan.lowers.length} overlay layers: the mount options exceed a page and this kernel lacks fsconfig "lowerdir+" (Linux 6.8)`,
    );
  }
  mount("overlay", target, "overlay", plan.upper ? 0 : MS.RDONLY, data);
}

/** overlayfs separates lowerdirs with ":" and options with ","; a backslash escapes both. */
function escapeOverlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

/** The messages the kernel queued on a filesystem context, e.g. "e overlay: failed to resolve ...". */
function kernelLog(fsfd: number): string {
  const lines: string[] = [];
  const buf = new Uint8Array(1024);
  for (let i = 0; i < 16; i++) {
    let n: number;
    try {
      n = readFd(fsfd, buf);
    } catch {
      break; // ENODATA: nothing more queued
    }
    lines.push(new TextDecoder().decode(buf.subarray(0, n)).trim());
  }
  return lines.join("; ");
}
