/**
 * What an engine leaves on the host, for tests that demand it leaves nothing: mounts under its directories,
 * cgroups of its containers, its bridges and veths, firewall rules naming them or its subnets, named netns,
 * live processes, files. Tests on this host run in parallel, so every check looks for this engine's own
 * traces (names, ids, subnets, pids, paths collected while it ran), never for "anything new".
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { settle, SETTLE_TIMEOUT_MS } from "./wait";

export interface EngineTraces {
  /** Directories the engine owned (temporary dir, data root); nothing may be mounted below them or remain. */
  dirs: string[];
  containerIds: string[];
  bridges: string[];
  /** `10.201.7.0/24` style subnets of its networks. */
  subnets: string[];
  /** Host ends of container veths. */
  veths: string[];
  /** Container processes, keepers, daemons. */
  pids: number[];
}

export function emptyTraces(): EngineTraces {
  return { dirs: [], containerIds: [], bridges: [], subnets: [], veths: [], pids: [] };
}

function run(argv: string[]): string {
  const result = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return result.exitCode === 0 ? result.stdout.toString() : "";
}

export function linkNames(): string[] {
  return run(["ip", "-o", "link", "show"])
    .split("\n")
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? "")
    .filter(Boolean);
}

/** Host veth ends enslaved to `bridge` right now. */
export function vethsOf(bridge: string): string[] {
  return run(["ip", "-o", "link", "show", "master", bridge])
    .split("\n")
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? "")
    .filter((name) => name.startsWith("veth"));
}

/** The keeper pids recorded under a data root (keeper/gen-N/keeper.pid). */
export function keeperPids(dataRoot: string): number[] {
  const dir = join(dataRoot, "keeper");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((gen) => {
    const file = join(dir, gen, "keeper.pid");
    return existsSync(file) ? [Number(readFileSync(file, "utf8").trim())] : [];
  });
}

export function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter(Boolean)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Every firewall ruleset this host has, as text (legacy iptables only when its tables already exist). */
function firewallText(): string {
  const parts = [run(["nft", "list", "ruleset"]), run(["iptables-nft-save"])];
  if (existsSync("/proc/net/ip_tables_names") && readFileSync("/proc/net/ip_tables_names", "utf8").trim()) parts.push(run(["iptables-legacy-save"]));
  return parts.join("\n");
}

function cgroupDirs(id: string): string[] {
  const root = "/sys/fs/cgroup";
  const hierarchies = readdirSync(root).map((name) => join(root, name));
  return [root, ...hierarchies].map((h) => join(h, "bunker", id)).filter((p) => existsSync(p));
}

/** Descriptions of whatever is left; empty when the host is clean of this engine. */
export function leftovers(t: EngineTraces): string[] {
  const found: string[] = [];
  const mounts = mountPoints();
  for (const dir of t.dirs) {
    for (const m of mounts) if (m === dir || m.startsWith(`${dir}/`)) found.push(`mount ${m}`);
    if (existsSync(dir)) found.push(`directory ${dir}`);
  }
  for (const id of t.containerIds) for (const cg of cgroupDirs(id)) found.push(`cgroup ${cg}`);
  const links = new Set(linkNames());
  for (const name of [...t.bridges, ...t.veths]) if (links.has(name)) found.push(`link ${name}`);
  const rules = firewallText();
  for (const needle of [...t.bridges, ...t.subnets.map((s) => s.replace(/\.0\/\d+$/, "."))]) {
    for (const line of rules.split("\n")) if (line.includes(needle)) found.push(`firewall rule: ${line.trim()}`);
  }
  const netns = run(["ip", "netns", "list"]);
  for (const id of t.containerIds) if (netns.includes(id.slice(0, 12))) found.push(`netns of ${id}`);
  for (const pid of t.pids) if (alive(pid)) found.push(`process ${pid}`);
  return found;
}

/** Wait until `leftovers` is empty (teardown may finish just after a process exits), or return what stays. */
export async function settledLeftovers(t: EngineTraces, timeoutMs = SETTLE_TIMEOUT_MS): Promise<string[]> {
  await settle(() => leftovers(t).length === 0, timeoutMs);
  return leftovers(t);
}
