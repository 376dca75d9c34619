/**
 * Linux capabilities: names ↔ bit numbers, Docker's default set, and the `--cap-add/--cap-drop/--privileged`
 * resolution into the 64-bit masks the launcher hands to capset(2) and PR_CAPBSET_DROP.
 */
import { readFileSync } from "node:fs";

/** Index = capability number (linux/capability.h), names without the CAP_ prefix. */
const CAPABILITY_NAMES = [
  "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
  "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
  "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
  "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
  "CHECKPOINT_RESTORE",
] as const;

/** Every capability this module knows, as `CAP_*` names in number order. */
export const ALL_CAPABILITIES: readonly string[] = CAPABILITY_NAMES.map((n) => `CAP_${n}`);

const numberByName = new Map<string, number>(ALL_CAPABILITIES.map((name, i) => [name, i]));

/** Docker's default set for containers (moby daemon/pkg/oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
];

export class CapabilityError extends Error {
  override name = "CapabilityError";
}

/** `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all become `CAP_NET_ADMIN`; `all` becomes `ALL`. */
export function normalizeCapabilityName(input: string): string {
  const upper = input.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const name = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!numberByName.has(name)) throw new CapabilityError(`unknown capability: ${JSON.stringify(name)}`);
  return name;
}

export function capabilityNumber(name: string): number {
  const n = numberByName.get(normalizeCapabilityName(name));
  if (n === undefined) throw new CapabilityError(`"ALL" is not a single capability`);
  return n;
}

export function capabilityName(n: number): string {
  const name = ALL_CAPABILITIES[n];
  if (name === undefined) throw new CapabilityError(`unknown capability number ${n}`);
  return name;
}

export function capabilityMask(names: Iterable<string>): bigint {
  let mask = 0n;
  for (const name of names) mask |= 1n << BigInt(capabilityNumber(name));
  return mask;
}

/** Known capability names whose bit is set in `mask`, in number order. */
export function capabilityNames(mask: bigint): string[] {
  return ALL_CAPABILITIES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

/** Whether `mask` holds the capability; a name this module does not know is never held. */
export function hasCapability(mask: bigint, name: string): boolean {
  const upper = name.trim().toUpperCase();
  const n = numberByName.get(upper.startsWith("CAP_") ? upper : `CAP_${upper}`);
  return n !== undefined && ((mask >> BigInt(n)) & 1n) === 1n;
}

let ownBoundingSet: bigint | undefined;

/**
 * The bounding set of this process (CapBnd in /proc/self/status), limited to the capabilities we know.
 * Children can never hold more than this, so it is what "all capabilities" means here. Read once: every
 * create and start asks, and this process never changes its own.
 */
export function hostCapabilities(): bigint {
  if (ownBoundingSet === undefined) {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("CapBnd:"));
    if (!line) throw new CapabilityError("no CapBnd line in /proc/self/status");
    const known = (1n << BigInt(ALL_CAPABILITIES.length)) - 1n;
    ownBoundingSet = BigInt(`0x${line.slice("CapBnd:".length).trim()}`) & known;
  }
  return ownBoundingSet;
}

export interface CapabilityRequest {
  add?: readonly string[];
  drop?: readonly string[];
  privileged?: boolean;
  /** The set to start from; Docker's default 14 unless given. */
  base?: readonly string[];
  /** What this host can grant; read from /proc/self/status unless given. */
  host?: bigint;
}

export interface CapabilitySets {
  bounding: bigint;
  effective: bigint;
  permitted: bigint;
  /** Always empty: a non-empty inheritable set leaks caps across execve of file-capability binaries (CVE-2022-24769). */
  inheritable: bigint;
  names: string[];
  /** Requested capabilities this host cannot grant (not in its bounding set); left out so the container still starts. */
  unavailable: string[];
}

/**
 * Docker's rules (moby TweakCapabilities): privileged → everything; `--cap-add ALL` → everything minus drops;
 * `--cap-drop ALL` → only the adds; otherwise base − drops + adds. "Everything" is what this process holds.
 */
export function resolveCapabilities(req: CapabilityRequest = {}): CapabilitySets {
  const host = req.host ?? hostCapabilities();
  const adds = (req.add ?? []).map(normalizeCapabilityName);
  const drops = (req.drop ?? []).map(normalizeCapabilityName);
  const base = (req.base ?? DEFAULT_CAPABILITIES).map(normalizeCapabilityName);
  const everything = (1n << BigInt(ALL_CAPABILITIES.length)) - 1n;
  const maskOf = (names: string[]) => capabilityMask(names.filter((n) => n !== "ALL"));

  let wanted: bigint;
  if (req.privileged) wanted = everything;
  else if (adds.includes("ALL")) wanted = everything & ~maskOf(drops);
  else if (drops.includes("ALL")) wanted = maskOf(adds);
  else wanted = (maskOf(base) & ~maskOf(drops)) | maskOf(adds);

  const granted = wanted & host;
  // "Everything" means what the host has; only capabilities asked for by name can be unavailable.
  const namedRequest = req.privileged || adds.includes("ALL") ? 0n : wanted;
  return {
    bounding: granted,
    effective: granted,
    permitted: granted,
    inheritable: 0n,
    names: capabilityNames(granted),
    unavailable: capabilityNames(namedRequest & ~host),
  };
}
