import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
 * Returns the temporary directory to delete at exit (null when the user chose the data root).
 */
export function applyEphemeral(config: DaemonConfig, explicit: ExplicitSettings, routes: string): string | null {
  if (!config.ephemeral) return null;
  const dir = mkdtempSync(join(tmpdir(), "bunker-ephemeral-"));
  if (!explicit.dataRoot) config.dataRoot = join(dir, "root");
  if (!explicit.hosts) config.hosts = [`unix://${join(dir, "bunker.sock")}`];
  if (!explicit.pidfile) config.pidfile = join(dir, "bunker.pid");
  if (!explicit.bridge) config.bridge = `bke${Buffer.from(crypto.getRandomValues(new Uint8Array(5))).toString("hex")}`.slice(0, 15);
  if (!explicit.bip && config.bridge !== "none") config.bip = freeSubnet(routes);
  return explicit.dataRoot ? null : dir;
}

/** A random 10.200-249.x.0/24 that is not routed on this host (the output of `ip -4 route`). */
export function freeSubnet(routes: string): string {
  for (let i = 0; i < 500; i++) {
    const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!routes.includes(`${net}.0/`)) return `${net}.1/24`;
  }
  throw new Error("no free subnet for the ephemeral engine's bridge in 10.200.0.0-10.249.255.0");
}
