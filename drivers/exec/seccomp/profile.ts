/**
 * Docker's seccomp profile format (the JSON `--security-opt seccomp=<file>` takes, moby/profiles/seccomp):
 * a default action, architectures, and syscall rules that may depend on capabilities, architecture and kernel.
 */

export const SECCOMP_ACTIONS = [
  "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
] as const;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

export const SECCOMP_OPERATORS = [
  "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ",
] as const;
export type SeccompOperator = (typeof SECCOMP_OPERATORS)[number];

/** seccomp(2) filter flags a profile may ask for, by the names Docker profiles use. */
export const SECCOMP_FILTER_FLAGS: Readonly<Record<string, number>> = {
  SECCOMP_FILTER_FLAG_TSYNC: 1,
  SECCOMP_FILTER_FLAG_LOG: 2,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: 32,
};

/** One condition on syscall argument `index` (0–5); for MASKED_EQ `value` is the mask and `valueTwo` the expected result. */
export interface SeccompArg {
  index: number;
  value: bigint;
  valueTwo: bigint;
  op: SeccompOperator;
}

/** Conditions under which a rule applies. `caps`: all must be in the bounding set; `arches`: Go arch names (amd64, arm64). */
export interface SeccompCondition {
  caps?: string[];
  arches?: string[];
  /** "<major>.<minor>" */
  minKernel?: string;
}

export interface SeccompRule {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  /** All must hold (AND); several rules for one syscall are alternatives (OR). */
  args?: SeccompArg[];
  includes?: SeccompCondition;
  /** The rule is dropped when any listed cap is present, the arch matches, or the kernel is at least minKernel. */
  excludes?: SeccompCondition;
  comment?: string;
}

export interface SeccompArchitecture {
  architecture: string;
  subArchitectures: string[];
}

export interface SeccompProfile {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  /** SCMP_ARCH_* names; alternative to archMap. */
  architectures?: string[];
  archMap?: SeccompArchitecture[];
  flags?: string[];
  syscalls: SeccompRule[];
}

export class SeccompProfileError extends Error {
  override name = "SeccompProfileError";
}

/** Integers past 2^53 lose precision in JSON.parse; quote long argument values so they reach BigInt intact. */
function quoteLongIntegers(text: string): string {
  return text.replace(/("(?:value|valueTwo)"\s*:\s*)(\d{16,})/g, '$1"$2"');
}

/** Parses and checks a Docker-format profile; every problem is reported with where it is. */
export function parseSeccompProfile(text: string): SeccompProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(quoteLongIntegers(text));
  } catch (err) {
    throw new SeccompProfileError(`seccomp profile is not valid JSON: ${(err as Error).message}`);
  }
  const root = record(raw, "profile");
  const profile: SeccompProfile = {
    defaultAction: action(root.defaultAction, "defaultAction"),
    syscalls: array(root.syscalls ?? [], "syscalls").map((r, i) => rule(r, `syscalls[${i}]`)),
  };
  if (root.defaultErrnoRet !== undefined) profile.defaultErrnoRet = errno(root.defaultErrnoRet, "defaultErrnoRet");
  if (root.architectures !== undefined) profile.architectures = strings(root.architectures, "architectures");
  if (root.archMap !== undefined) {
    profile.archMap = array(root.archMap, "archMap").map((a, i) => {
      const m = record(a, `archMap[${i}]`);
      return {
        architecture: string(m.architecture, `archMap[${i}].architecture`),
        subArchitectures: strings(m.subArchitectures ?? [], `archMap[${i}].subArchitectures`),
      };
    });
  }
  if (profile.architectures?.length && profile.archMap?.length) {
    throw new SeccompProfileError("seccomp profile sets both architectures and archMap");
  }
  if (root.flags !== undefined) {
    profile.flags = strings(root.flags, "flags");
    for (const f of profile.flags) {
      if (!(f in SECCOMP_FILTER_FLAGS)) throw new SeccompProfileError(`flags: unsupported seccomp flag ${JSON.stringify(f)}`);
    }
  }
  if (root.listenerPath !== undefined && root.listenerPath !== "") {
    throw new SeccompProfileError("listenerPath: seccomp user notification is not supported");
  }
  return profile;
}

function rule(value: unknown, where: string): SeccompRule {
  const r = record(value, where);
  const names = r.names !== undefined ? strings(r.names, `${where}.names`) : [];
  // Old profiles name a single syscall with "name".
  if (r.name !== undefined && r.name !== "") names.push(string(r.name, `${where}.name`));
  if (names.length === 0) throw new SeccompProfileError(`${where}: no syscall names`);
  const out: SeccompRule = { names, action: action(r.action, `${where}.action`) };
  if (r.errnoRet !== undefined) out.errnoRet = errno(r.errnoRet, `${where}.errnoRet`);
  if (r.args !== undefined && r.args !== null) out.args = array(r.args, `${where}.args`).map((a, i) => arg(a, `${where}.args[${i}]`));
  if (r.includes !== undefined) out.includes = condition(r.includes, `${where}.includes`);
  if (r.excludes !== undefined) out.excludes = condition(r.excludes, `${where}.excludes`);
  if (typeof r.comment === "string") out.comment = r.comment;
  return out;
}

function arg(value: unknown, where: string): SeccompArg {
  const a = record(value, where);
  const index = a.index;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 5) {
    throw new SeccompProfileError(`${where}.index: must be 0..5`);
  }
  const op = a.op;
  if (typeof op !== "string" || !(SECCOMP_OPERATORS as readonly string[]).includes(op)) {
    throw new SeccompProfileError(`${where}.op: unknown operator ${JSON.stringify(op)}`);
  }
  return { index, op: op as SeccompOperator, value: u64(a.value, `${where}.value`), valueTwo: u64(a.valueTwo ?? 0, `${where}.valueTwo`) };
}

function condition(value: unknown, where: string): SeccompCondition {
  const c = record(value, where);
  const out: SeccompCondition = {};
  if (c.caps !== undefined) out.caps = strings(c.caps, `${where}.caps`);
  if (c.arches !== undefined) out.arches = strings(c.arches, `${where}.arches`);
  if (c.minKernel !== undefined && c.minKernel !== "") {
    const v = string(c.minKernel, `${where}.minKernel`);
    if (!/^\d+\.\d+$/.test(v)) throw new SeccompProfileError(`${where}.minKernel: expected "<kernel>.<major>", got ${JSON.stringify(v)}`);
    out.minKernel = v;
  }
  return out;
}

function action(value: unknown, where: string): SeccompAction {
  if (typeof value !== "string" || !(SECCOMP_ACTIONS as readonly string[]).includes(value)) {
    throw new SeccompProfileError(`${where}: unknown action ${JSON.stringify(value)}`);
  }
  return value as SeccompAction;
}

function errno(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new SeccompProfileError(`${where}: must be an errno number`);
  }
  return value;
}

function u64(value: unknown, where: string): bigint {
  const ok = (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) || (typeof value === "string" && /^\d+$/.test(value));
  const n = ok ? BigInt(value as number | string) : -1n;
  if (n < 0n || n >= 1n << 64n) throw new SeccompProfileError(`${where}: must be an unsigned 64-bit integer`);
  return n;
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SeccompProfileError(`${where}: expected an object`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new SeccompProfileError(`${where}: expected an array`);
  return value;
}

function string(value: unknown, where: string): string {
  if (typeof value !== "string") throw new SeccompProfileError(`${where}: expected a string`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  return array(value, where).map((v, i) => string(v, `${where}[${i}]`));
}
