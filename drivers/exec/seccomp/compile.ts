/**
 * Compiles a Docker-format seccomp profile into a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER).
 *
 * Shape of the program:
 *   load arch → one section per architecture (unknown arch: kill the process)
 *   section: load nr → (x86_64: x32 numbers kill) → binary search over number ranges → handler
 *   handler: a shared `ret <action>`, or a body that tries the syscall's argument rules in order and falls back
 *
 * Semantics: rules are first filtered by includes/excludes (capabilities = the container's bounding set, arch =
 * the native Go arch name, kernel = the host release). For one syscall, rules with arguments are tried in profile
 * order, first match wins; otherwise the first rule without arguments decides; otherwise the default action.
 * Syscall names an architecture does not have are skipped, as libseccomp does.
 */
import { release } from "node:os";
import { hasCapability } from "../caps";
import { GO_ARCH_NAMES, nativeArch, SECCOMP_ARCHES, X32_SYSCALL_BIT, type NativeArch, type SeccompArch } from "./arches";
import { BPF, BpfAssembler, SECCOMP_DATA, type Label } from "./bpf";
import { SECCOMP_FILTER_FLAGS, SeccompProfileError, type SeccompAction, type SeccompArg, type SeccompProfile, type SeccompRule } from "./profile";

const SECCOMP_RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;
const EPERM = 1;

export interface CompileOptions {
  /** The container's bounding set; decides rules that include or exclude capabilities. */
  capabilities: bigint;
  arch?: NativeArch;
  /** Host kernel release (uname -r) for minKernel conditions. */
  kernelRelease?: string;
}

export interface CompiledSeccomp {
  /** struct sock_filter[] for struct sock_fprog. */
  filter: Uint8Array;
  /** seccomp(2) flags the profile asked for. */
  flags: number;
  /** SCMP_ARCH_* names the filter admits; any other arch is killed. */
  architectures: string[];
}

export function compileSeccomp(profile: SeccompProfile, opts: CompileOptions): CompiledSeccomp {
  const native = opts.arch ?? nativeArch();
  const kernel = kernelVersion(opts.kernelRelease ?? release());
  const applies = (rule: SeccompRule) => ruleApplies(rule, GO_ARCH_NAMES[native], opts.capabilities, kernel);
  const rules = profile.syscalls.filter(applies);
  const arches = filterArches(profile, native);
  const defaultValue = actionValue(profile.defaultAction, profile.defaultErrnoRet);

  const asm = new BpfAssembler();
  const returns = new Map<number, Label>();
  const returnLabel = (value: number) => {
    let label = returns.get(value);
    if (!label) returns.set(value, (label = asm.label()));
    return label;
  };

  asm.load(SECCOMP_DATA.arch);
  const sections = arches.map((arch) => {
    const section = asm.label();
    const next = asm.label();
    asm.jump(BPF.JEQ_K, arch.auditArch, section, next);
    asm.place(next);
    return { arch, section };
  });
  asm.ret(SECCOMP_RET.KILL_PROCESS);

  for (const { arch, section } of sections) {
    asm.place(section);
    emitSection(asm, arch, rules, defaultValue, returnLabel);
  }
  for (const [value, label] of returns) {
    asm.place(label);
    asm.ret(value);
  }

  const flags = (profile.flags ?? []).reduce((all, name) => all | (SECCOMP_FILTER_FLAGS[name] ?? 0), 0);
  return { filter: asm.assemble(), flags, architectures: arches.map((a) => a.scmpName) };
}

/** Native first, then the profile's other architectures we have tables for. */
function filterArches(profile: SeccompProfile, native: NativeArch): SeccompArch[] {
  const listed = profile.architectures?.length
    ? profile.architectures
    : (profile.archMap ?? []).filter((m) => m.architecture === native).flatMap((m) => [m.architecture, ...m.subArchitectures]);
  const names = [...new Set([native, ...listed])];
  return names.flatMap((name) => SECCOMP_ARCHES[name] ?? []);
}

function ruleApplies(rule: SeccompRule, goArch: string, caps: bigint, kernel: [number, number]): boolean {
  const has = (name: string) => hasCapability(caps, name);
  const atLeast = (minKernel: string) => compareVersion(kernel, minKernel) >= 0;
  const ex = rule.excludes;
  if (ex && (ex.arches?.includes(goArch) || ex.caps?.some(has) || (ex.minKernel && atLeast(ex.minKernel)))) return false;
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(goArch)) return false;
    if (!(inc.caps ?? []).every(has)) return false;
    if (inc.minKernel && !atLeast(inc.minKernel)) return false;
  }
  return true;
}

interface SyscallPlan {
  conditional: { args: SeccompArg[]; value: number }[];
  unconditional?: number;
}

function emitSection(asm: BpfAssembler, arch: SeccompArch, rules: SeccompRule[], defaultValue: number, returnLabel: (v: number) => Label): void {
  const plans = new Map<number, SyscallPlan>();
  for (const rule of rules) {
    const value = actionValue(rule.action, rule.errnoRet);
    for (const name of rule.names) {
      const nr = arch.syscalls[name];
      if (nr === undefined) continue;
      let plan = plans.get(nr);
      if (!plan) plans.set(nr, (plan = { conditional: [] }));
      if (rule.args?.length) plan.conditional.push({ args: rule.args, value });
      else plan.unconditional ??= value;
    }
  }

  // Each syscall number resolves to a handler: a shared return, or a body with argument checks.
  const bodies: { label: Label; plan: SyscallPlan; fallback: number }[] = [];
  const handlerOf = new Map<number, Label>();
  for (const [nr, plan] of plans) {
    const fallback = plan.unconditional ?? defaultValue;
    // Trailing argument rules with the fallback's action change nothing.
    while (plan.conditional.at(-1)?.value === fallback) plan.conditional.pop();
    if (plan.conditional.length === 0) {
      if (fallback !== defaultValue) handlerOf.set(nr, returnLabel(fallback));
      continue;
    }
    const label = asm.label();
    bodies.push({ label, plan, fallback });
    handlerOf.set(nr, label);
  }

  asm.load(SECCOMP_DATA.nr);
  if (arch.scmpName === "SCMP_ARCH_X86_64") {
    // nr -1 is how a tracer skips a syscall (the filter runs again after it); it is not an x32 call.
    const native = asm.label();
    const checkX32 = asm.label();
    asm.jump(BPF.JEQ_K, 0xffffffff, native, checkX32);
    asm.place(checkX32);
    asm.jump(BPF.JGE_K, X32_SYSCALL_BIT, returnLabel(SECCOMP_RET.KILL_PROCESS), native);
    asm.place(native);
  }
  emitSearchTree(asm, ranges(handlerOf, returnLabel(defaultValue)));

  const wide = arch.scmpName !== "SCMP_ARCH_X86";
  for (const { label, plan, fallback } of bodies) {
    asm.place(label);
    for (const { args, value } of plan.conditional) {
      const fail = asm.label();
      for (const arg of args) emitArgCheck(asm, arg, fail, wide);
      asm.ret(value);
      asm.place(fail);
    }
    asm.ret(fallback);
  }
}

interface Range {
  start: number;
  handler: Label;
}

/** Sorted, merged ranges covering every number from 0 up; unlisted numbers go to the default handler. */
function ranges(handlerOf: Map<number, Label>, fallback: Label): Range[] {
  const out: Range[] = [];
  const push = (start: number, handler: Label) => {
    if (out.at(-1)?.handler !== handler) out.push({ start, handler });
  };
  let cursor = 0;
  for (const nr of [...handlerOf.keys()].sort((a, b) => a - b)) {
    if (nr > cursor) push(cursor, fallback);
    push(nr, handlerOf.get(nr)!);
    cursor = nr + 1;
  }
  push(cursor, fallback);
  return out;
}

/** Binary search on the syscall number in A; every node jumps forward to its children or to a handler. */
function emitSearchTree(asm: BpfAssembler, rs: Range[]): void {
  const pending: { label: Label; lo: number; hi: number }[] = [];
  const target = (lo: number, hi: number): Label => {
    if (lo === hi) return rs[lo]!.handler;
    const label = asm.label();
    pending.push({ label, lo, hi });
    return label;
  };
  const root = target(0, rs.length - 1);
  if (pending.length === 0) {
    asm.goto(root);
    return;
  }
  for (let i = 0; i < pending.length; i++) {
    const { label, lo, hi } = pending[i]!;
    const mid = Math.ceil((lo + hi) / 2);
    asm.place(label);
    asm.jump(BPF.JGE_K, rs[mid]!.start, target(mid, hi), target(lo, mid - 1));
  }
}

/**
 * Falls through when the argument condition holds, jumps to `fail` otherwise. 64-bit arguments are compared
 * as (high, low) 32-bit halves; on 32-bit architectures only the low half exists, as in libseccomp.
 */
function emitArgCheck(asm: BpfAssembler, arg: SeccompArg, fail: Label, wide: boolean): void {
  const base = SECCOMP_DATA.args + 8 * arg.index;
  const split = (v: bigint) => ({ hi: Number((v >> 32n) & 0xffffffffn), lo: Number(v & 0xffffffffn) });
  const value = split(arg.value);
  const second = split(arg.valueTwo);
  const halves = [
    ...(wide ? [{ offset: base + 4, value: value.hi, second: second.hi }] : []),
    { offset: base, value: value.lo, second: second.lo },
  ];
  const ok = asm.label();
  halves.forEach((half, i) => {
    const last = i === halves.length - 1;
    const next = last ? ok : asm.label();
    asm.load(half.offset);
    switch (arg.op) {
      case "SCMP_CMP_EQ":
        asm.jump(BPF.JEQ_K, half.value, next, fail);
        break;
      case "SCMP_CMP_MASKED_EQ":
        asm.and(half.value);
        asm.jump(BPF.JEQ_K, half.second, next, fail);
        break;
      case "SCMP_CMP_NE":
        asm.jump(BPF.JEQ_K, half.value, last ? fail : next, ok);
        break;
      default: {
        // Ordered comparisons: a higher half that differs decides; an equal one defers to the next half.
        const greaterWins = arg.op === "SCMP_CMP_GT" || arg.op === "SCMP_CMP_GE";
        const [above, below] = greaterWins ? [ok, fail] : [fail, ok];
        if (last) {
          const strict = arg.op === "SCMP_CMP_GT" || arg.op === "SCMP_CMP_LE";
          asm.jump(strict ? BPF.JGT_K : BPF.JGE_K, half.value, above, below);
        } else {
          const equal = asm.label();
          asm.jump(BPF.JGT_K, half.value, above, equal);
          asm.place(equal);
          asm.jump(BPF.JEQ_K, half.value, next, below);
        }
      }
    }
    if (!last) asm.place(next);
  });
  asm.place(ok);
}

function actionValue(action: SeccompAction, errnoRet: number | undefined): number {
  switch (action) {
    case "SCMP_ACT_ALLOW":
      return SECCOMP_RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return SECCOMP_RET.ERRNO | ((errnoRet ?? EPERM) & 0xffff);
    case "SCMP_ACT_TRACE":
      return SECCOMP_RET.TRACE | ((errnoRet ?? EPERM) & 0xffff);
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return SECCOMP_RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return SECCOMP_RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return SECCOMP_RET.TRAP;
    case "SCMP_ACT_LOG":
      return SECCOMP_RET.LOG;
    case "SCMP_ACT_NOTIFY":
      throw new SeccompProfileError("SCMP_ACT_NOTIFY needs a seccomp user-notification listener, which is not supported");
  }
}

function kernelVersion(releaseString: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(releaseString);
  if (!m) throw new SeccompProfileError(`cannot read a kernel version from ${JSON.stringify(releaseString)}`);
  return [Number(m[1]), Number(m[2])];
}

function compareVersion(kernel: [number, number], minKernel: string): number {
  const [major, minor] = kernelVersion(minKernel);
  return kernel[0] !== major ? kernel[0] - major : kernel[1] - minor;
}
