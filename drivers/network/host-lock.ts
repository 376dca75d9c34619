import { closeSync, openSync } from "node:fs";
import { tryLockExclusive } from "../libc/libc";

const LOCK_PATH = "/run/bunker-firewall.lock";

/**
 * Several engines (parallel CI jobs, ephemeral engines) share the host's firewall: changes that read the
 * installed rules and then apply are done under one host-wide flock, so "no rules of anyone left → drop the
 * table" can never race another engine's "ensure the table, add my rules". Waits by polling so the event
 * loop never blocks on another process.
 */
export async function withHostFirewallLock<T>(fn: () => Promise<T>): Promise<T> {
  const fd = openSync(LOCK_PATH, "a", 0o600);
  try {
    while (!tryLockExclusive(fd)) await Bun.sleep(5);
    return await fn();
  } finally {
    closeSync(fd);
  }
}
