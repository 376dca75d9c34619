import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseMountinfo } from "../../drivers/exec/cgroups/detect";
import { MNT_DETACH, umount } from "../../drivers/libc/libc";
import { log } from "../util/log";
import type { DaemonConfig } from "./config";

/** Which settings the user gave explicitly; ephemeral mode fills in only the others. */
export interface ExplicitSettings {
  hosts: boolean;
  dataRoot: boolean;
  pidfile: boolean;
  bridge: boolean;
  bip: boolean;
}

/**
 * `--ephemeral`: a private data root, socket and pidfile in a new temporary directory, and a default bridge
 * whose name and subnet no other engine on this host uses, so parallel CI jobs can each run one.
 * Returns the temporary directory to delete at exit (null when the user chose all three paths).
 */
export function applyEphemeral(config: DaemonConfig, explicit: ExplicitSettings, routes: string): string | null {
  if (!config.ephemeral) return null;
  if (!explicit.bridge) config.bridge = `bke${Buffer.from(crypto.getRandomValues(new Uint8Array(5))).toString("hex")}`.slice(0, 15);
  if (!explicit.bip && config.bridge !== "none") config.bip = freeSubnet(routes);
  if (explicit.dataRoot && explicit.hosts && explicit.pidfile) return null;
  const dir = mkdtempSync(join(tmpdir(), "bunker-ephemeral-"));
  if (!explicit.dataRoot) config.dataRoot = join(dir, "root");
  if (!explicit.hosts) config.hosts = [`unix://${join(dir, "bunker.sock")}`];
  if (!explicit.pidfile) config.pidfile = join(dir, "bunker.pid");
  return dir;
}

/** The host's IPv4 routes (`ip -4 route`), which freeSubnet must avoid. */
export function hostRoutes(): string {
  return Bun.spawnSync(["ip", "-4", "route"]).stdout.toString();
}

/** A random 10.200-249.x.0/24 that is not routed on this host (the output of `ip -4 route`). */
export function freeSubnet(routes: string): string {
  for (let i = 0; i < 500; i++) {
    const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${net}.0/`)) return `${net}.1/24`;
  }
  throw new Error("no free subnet for the ephemeral engine's bridge in 10.200.0.0-10.249.255.0");
}

/**
 * Delete an ephemeral engine's temporary directory. Anything still mounted below it is detached first, so
 * that the recursive delete can never walk into a mounted filesystem (a bind-mounted host directory); if a
 * mount cannot be detached the directory is left in place.
 */
export function removeEphemeralDir(dir: string): void {
  const prefix = `${dir}/`;
  const mounts = parseMountinfo(readFileSync("/proc/self/mountinfo", "utf8"))
    .map((m) => m.mountpoint)
    .filter((p) => p.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    try {
      umount(target, MNT_DETACH);
      log.warn("ephemeral teardown: detached a leftover mount", { target });
    } catch (err) {
      log.error("ephemeral teardown: cannot detach a mount; leaving the temporary directory in place", { target, dir, error: String(err) });
      return;
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
