/**
 * The seccomp compiler: structure of the emitted BPF, argument comparison semantics (checked with a small
 * cBPF interpreter as oracle), and the real thing — filters loaded into the kernel in front of busybox and probe
 * programs built with the system gcc.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { capabilityMask, DEFAULT_CAPABILITIES, resolveCapabilities } from "../drivers/exec/caps";
import { BPF, decodeFilter, validateFilter } from "../drivers/exec/seccomp/bpf";
import { compileSeccomp, DEFAULT_SECCOMP_PROFILE, parseSeccompProfile, type SeccompProfile } from "../drivers/exec/seccomp";
import { X86_64_SYSCALLS, X86_SYSCALLS } from "../drivers/exec/seccomp/syscalls";

const AUDIT_ARCH = { X86_64: 0xc000003e, I386: 0x40000003, AARCH64: 0xc00000b7 };
const RET = { KILL_PROCESS: 0x80000000, ALLOW: 0x7fff0000, ERRNO: 0x00050000 };
const EPERM = 1, ENOSYS = 38, ENOENT = 2;
const defaultCaps = capabilityMask(DEFAULT_CAPABILITIES);
const nr = (name: string) => X86_64_SYSCALLS[name]!;

/** Runs a compiled filter on one seccomp_data, as the kernel would. */
function runFilter(filter: Uint8Array, data: { arch: number; nr: number; args?: bigint[] }): number {
  const words = new Uint32Array(16);
  words[0] = data.nr >>> 0;
  words[1] = data.arch >>> 0;
  (data.args ?? []).forEach((arg, i) => {
    words[4 + 2 * i] = Number(arg & 0xffffffffn);
    words[5 + 2 * i] = Number(arg >> 32n);
  });
  const program = decodeFilter(filter);
  let a = 0;
  for (let pc = 0; pc < program.length; pc++) {
    const { code, jt, jf, k } = program[pc]!;
    switch (code) {
      case BPF.LD_W_ABS: a = words[k / 4]!; break;
      case BPF.ALU_AND_K: a = (a & k) >>> 0; break;
      case BPF.JA: pc += k; break;
      case BPF.JEQ_K: pc += a === k ? jt : jf; break;
      case BPF.JGT_K: pc += a > k ? jt : jf; break;
      case BPF.JGE_K: pc += a >= k ? jt : jf; break;
      case BPF.JSET_K: pc += a & k ? jt : jf; break;
      case BPF.RET_K: return k;
      default: throw new Error(`opcode ${code}`);
    }
  }
  throw new Error("fell off the end of the program");
}

const x64 = (name: string, args?: bigint[]) => ({ arch: AUDIT_ARCH.X86_64, nr: nr(name), args });
const errno = (n: number) => (RET.ERRNO | n) >>> 0;

describe("default profile, compiled", () => {
  const { filter, architectures } = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: defaultCaps, arch: "SCMP_ARCH_X86_64" });

  test("is a structurally valid program within kernel limits", () => {
    validateFilter(filter);
    const program = decodeFilter(filter);
    expect(program.length).toBeLessThan(1000);
    program.forEach((insn, pc) => {
      if (insn.code === BPF.JA) expect(pc + 1 + insn.k).toBeLessThan(program.length);
      else if ((insn.code & 0x07) === 0x05) {
        expect(pc + 1 + insn.jt).toBeLessThan(program.length);
        expect(pc + 1 + insn.jf).toBeLessThan(program.length);
      }
    });
    expect(program.at(-1)!.code).toBe(BPF.RET_K);
    expect(architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
  });

  test("allows the ordinary, denies the rest with EPERM", () => {
    for (const name of ["read", "write", "openat", "execve", "mmap", "futex", "exit_group", "rt_sigreturn", "statx", "clone"]) {
      expect(runFilter(filter, x64(name, [0n]))).toBe(RET.ALLOW);
    }
    for (const name of ["mount", "umount2", "unshare", "setns", "keyctl", "add_key", "kexec_load", "init_module", "bpf", "io_uring_setup", "reboot", "swapon"]) {
      expect(runFilter(filter, x64(name))).toBe(errno(EPERM));
    }
    expect(runFilter(filter, { arch: AUDIT_ARCH.X86_64, nr: 100000 })).toBe(errno(EPERM));
    expect(runFilter(filter, { arch: AUDIT_ARCH.X86_64, nr: 0xffffffff })).toBe(errno(EPERM));
  });

  test("foreign architectures and x32 syscalls are killed; i386 has its own numbers", () => {
    expect(runFilter(filter, { arch: AUDIT_ARCH.AARCH64, nr: 63 })).toBe(RET.KILL_PROCESS);
    expect(runFilter(filter, { arch: AUDIT_ARCH.X86_64, nr: 0x40000000 | nr("getpid") })).toBe(RET.KILL_PROCESS);
    expect(runFilter(filter, { arch: AUDIT_ARCH.I386, nr: X86_SYSCALLS.getpid! })).toBe(RET.ALLOW);
    expect(runFilter(filter, { arch: AUDIT_ARCH.I386, nr: X86_SYSCALLS.keyctl! })).toBe(errno(EPERM));
    expect(runFilter(filter, { arch: AUDIT_ARCH.I386, nr: X86_SYSCALLS.socketcall! })).toBe(RET.ALLOW);
  });

  test("argument rules: personality, clone namespaces, clone3, vsock", () => {
    for (const persona of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) expect(runFilter(filter, x64("personality", [persona]))).toBe(RET.ALLOW);
    for (const persona of [0x40000n, 0x400000n, 1n, 0x1ffffffffn]) expect(runFilter(filter, x64("personality", [persona]))).toBe(errno(EPERM));
    expect(runFilter(filter, x64("clone", [0x01200011n]))).toBe(RET.ALLOW); // fork: CHILD_SETTID|CHILD_CLEARTID|SIGCHLD
    expect(runFilter(filter, x64("clone", [0x003d0f00n]))).toBe(RET.ALLOW); // pthread_create
    for (const ns of [0x20000n, 0x10000000n, 0x40000000n, 0x2000000n]) expect(runFilter(filter, x64("clone", [ns | 0x11n]))).toBe(errno(EPERM));
    expect(runFilter(filter, x64("clone3"))).toBe(errno(ENOSYS));
    expect(runFilter(filter, x64("socket", [40n]))).toBe(errno(EPERM));
    expect(runFilter(filter, x64("socket", [2n]))).toBe(RET.ALLOW);
    expect(runFilter(filter, x64("socket", [(1n << 32n) | 40n]))).toBe(RET.ALLOW); // a different 64-bit value
  });

  test("capabilities open their syscalls", () => {
    const withAdmin = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: defaultCaps | capabilityMask(["SYS_ADMIN", "SYS_TIME", "SYS_MODULE"]), arch: "SCMP_ARCH_X86_64" }).filter;
    validateFilter(withAdmin);
    for (const name of ["mount", "umount2", "unshare", "setns", "settimeofday", "clock_settime", "init_module", "finit_module"]) {
      expect(runFilter(withAdmin, x64(name))).toBe(RET.ALLOW);
    }
    expect(runFilter(withAdmin, x64("clone", [0x10000011n]))).toBe(RET.ALLOW);
    expect(runFilter(withAdmin, x64("clone3"))).toBe(RET.ALLOW);
    expect(runFilter(withAdmin, x64("keyctl"))).toBe(errno(EPERM));
    expect(runFilter(withAdmin, x64("ptrace"))).toBe(RET.ALLOW); // kernel ≥ 4.8
    expect(runFilter(filter, x64("kcmp"))).toBe(errno(EPERM));
    const withPtrace = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: defaultCaps | capabilityMask(["SYS_PTRACE"]), arch: "SCMP_ARCH_X86_64" }).filter;
    expect(runFilter(withPtrace, x64("kcmp"))).toBe(RET.ALLOW);
    const oldKernel = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: defaultCaps, arch: "SCMP_ARCH_X86_64", kernelRelease: "4.4.0-generic" }).filter;
    expect(runFilter(oldKernel, x64("ptrace"))).toBe(errno(EPERM));
  });

  test("aarch64 build uses its own table and audit arch", () => {
    const arm = compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: defaultCaps, arch: "SCMP_ARCH_AARCH64" });
    validateFilter(arm.filter);
    expect(arm.architectures).toEqual(["SCMP_ARCH_AARCH64"]);
    expect(runFilter(arm.filter, { arch: AUDIT_ARCH.AARCH64, nr: 63 /* read */ })).toBe(RET.ALLOW);
    expect(runFilter(arm.filter, { arch: AUDIT_ARCH.AARCH64, nr: 40 /* mount */ })).toBe(errno(EPERM));
    expect(runFilter(arm.filter, { arch: AUDIT_ARCH.X86_64, nr: 0 })).toBe(RET.KILL_PROCESS);
  });
});

describe("argument comparisons", () => {
  const interesting = [0n, 1n, 5n, 0xffffffffn, 0x100000000n, 0x100000005n, 0x1ffffffffn, 0xfffffffffffffffen, 0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffff00000006n];
  const oracle: Record<string, (a: bigint, v: bigint, v2: bigint) => boolean> = {
    SCMP_CMP_EQ: (a, v) => a === v,
    SCMP_CMP_NE: (a, v) => a !== v,
    SCMP_CMP_LT: (a, v) => a < v,
    SCMP_CMP_LE: (a, v) => a <= v,
    SCMP_CMP_GT: (a, v) => a > v,
    SCMP_CMP_GE: (a, v) => a >= v,
    SCMP_CMP_MASKED_EQ: (a, mask, want) => (a & mask) === want,
  };

  for (const [op, holds] of Object.entries(oracle)) {
    test(op, () => {
      for (const value of interesting) {
        const valueTwo = op === "SCMP_CMP_MASKED_EQ" ? value & 0xf0000000fn : 0n;
        const profile: SeccompProfile = {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 7, args: [{ index: 2, value, valueTwo, op: op as never }] }],
        };
        const { filter } = compileSeccomp(profile, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" });
        for (const arg of interesting) {
          const expected = holds(arg, value, valueTwo) ? errno(7) : RET.ALLOW;
          expect({ op, arg, value, got: runFilter(filter, x64("getppid", [0n, 0n, arg])) }).toEqual({ op, arg, value, got: expected });
        }
      }
    });
  }

  test("args of one rule AND, rules for one syscall OR, unconditional rule is the fallback", () => {
    const profile = parseSeccompProfile(JSON.stringify({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 11, args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 1, value: 2, op: "SCMP_CMP_EQ" }] },
        { names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 12, args: [{ index: 0, value: 3, op: "SCMP_CMP_EQ" }] },
        { names: ["getppid"], action: "SCMP_ACT_ALLOW" },
      ],
    }));
    const { filter } = compileSeccomp(profile, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" });
    expect(runFilter(filter, x64("getppid", [1n, 2n]))).toBe(errno(11));
    expect(runFilter(filter, x64("getppid", [1n, 3n]))).toBe(RET.ALLOW);
    expect(runFilter(filter, x64("getppid", [3n, 9n]))).toBe(errno(12));
    expect(runFilter(filter, x64("getpid"))).toBe(errno(EPERM));
  });

  test("32-bit architectures compare the low half only", () => {
    const profile: SeccompProfile = {
      defaultAction: "SCMP_ACT_ALLOW",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      syscalls: [{ names: ["getppid"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0x100000007n, valueTwo: 0n, op: "SCMP_CMP_EQ" }] }],
    };
    const { filter } = compileSeccomp(profile, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" });
    expect(runFilter(filter, { arch: AUDIT_ARCH.I386, nr: X86_SYSCALLS.getppid!, args: [7n] })).toBe(errno(EPERM));
    expect(runFilter(filter, x64("getppid", [7n]))).toBe(RET.ALLOW);
    expect(runFilter(filter, x64("getppid", [0x100000007n]))).toBe(errno(EPERM));
  });

  test("far jumps get trampolines and keep their meaning", () => {
    const names = Object.keys(X86_64_SYSCALLS).slice(0, 300);
    const profile: SeccompProfile = {
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: names.map((name, i) => ({
        names: [name], action: "SCMP_ACT_ALLOW",
        args: [{ index: 1, value: BigInt(i) << 33n, valueTwo: 0n, op: "SCMP_CMP_LE" as const }],
      })),
    };
    const { filter } = compileSeccomp(profile, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" });
    validateFilter(filter);
    expect(decodeFilter(filter).length).toBeGreaterThan(1500);
    names.forEach((name, i) => {
      expect(runFilter(filter, x64(name, [0n, BigInt(i) << 33n]))).toBe(RET.ALLOW);
      expect(runFilter(filter, x64(name, [0n, (BigInt(i) << 33n) + 1n]))).toBe(errno(EPERM));
    });
  });
});

describe("profile parsing", () => {
  test("reads Docker's JSON format, including old single-name rules and uint64 values", () => {
    const profile = parseSeccompProfile(`{
      "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
      "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"name": "personality", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 18446744073709551615, "op": "SCMP_CMP_EQ"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"], "minKernel": "4.8"}}
      ]
    }`);
    expect(profile.syscalls[1]!.names).toEqual(["personality"]);
    expect(profile.syscalls[1]!.args![0]!.value).toBe(0xffffffffffffffffn);
    const compiled = compileSeccomp(profile, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" });
    expect(compiled.flags).toBe(4);
    expect(runFilter(compiled.filter, x64("personality", [0xffffffffffffffffn]))).toBe(RET.ALLOW);
    expect(runFilter(compiled.filter, x64("ptrace"))).toBe(errno(ENOSYS));
  });

  test("rejects what it cannot honour, saying where", () => {
    expect(() => parseSeccompProfile("{")).toThrow("not valid JSON");
    expect(() => parseSeccompProfile(`{"defaultAction": "SCMP_ACT_BOGUS"}`)).toThrow('defaultAction: unknown action "SCMP_ACT_BOGUS"');
    expect(() => parseSeccompProfile(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}`)).toThrow("syscalls[0].args[0].index");
    expect(() => parseSeccompProfile(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_SOMETIMES"}]}]}`)).toThrow("unknown operator");
    const notify = parseSeccompProfile(`{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}`);
    expect(() => compileSeccomp(notify, { capabilities: 0n, arch: "SCMP_ARCH_X86_64" })).toThrow("SCMP_ACT_NOTIFY");
  });
});

// ---- in the kernel ----

const LOADER_C = String.raw`
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* usage: load-seccomp FILTER_FILE FLAGS PROGRAM [ARGS...] — install the filter, then exec PROGRAM */
int main(int argc, char **argv) {
  static unsigned char buf[4096 * 8];
  size_t len = 0;
  ssize_t n;
  if (argc < 4) return 125;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) { perror("open"); return 125; }
  while ((n = read(fd, buf + len, sizeof buf - len)) > 0) len += n;
  close(fd);
  struct sock_fprog prog = { .len = len / 8, .filter = (struct sock_filter *)buf };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("prctl"); return 125; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, strtoul(argv[2], 0, 0), &prog) != 0) { perror("seccomp"); return 125; }
  execv(argv[3], argv + 3);
  perror("execv");
  return 127;
}
`;

const PROBE_C = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Each argument names a probe, optionally NAME:HEXARG; prints "NAME RESULT ERRNO" per probe. */
static long probe(const char *name, unsigned long arg) {
  if (!strcmp(name, "getpid")) return syscall(SYS_getpid);
  if (!strcmp(name, "getppid")) return syscall(SYS_getppid, arg);
  if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3L, 0);
  if (!strcmp(name, "unshare-user")) return syscall(SYS_unshare, CLONE_NEWUSER);
  if (!strcmp(name, "mount")) return syscall(SYS_mount, "none", "/nonexistent-bunker-probe", "tmpfs", 0, 0);
  if (!strcmp(name, "personality")) return syscall(SYS_personality, arg);
  if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
  if (!strcmp(name, "socket")) { long fd = syscall(SYS_socket, arg, SOCK_STREAM, 0); if (fd >= 0) close(fd); return fd >= 0 ? 0 : -1; }
  if (!strcmp(name, "clone") || !strcmp(name, "fork")) {
    long pid = syscall(SYS_clone, (!strcmp(name, "fork") ? 0 : arg) | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) { waitpid(pid, 0, 0); return 0; }
    return -1;
  }
  if (!strcmp(name, "x32-getpid")) return syscall(0x40000000 | SYS_getpid);
  fprintf(stderr, "unknown probe %s\n", name);
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    char name[64];
    unsigned long arg = 0;
    const char *colon = strchr(argv[i], ':');
    size_t len = colon ? (size_t)(colon - argv[i]) : strlen(argv[i]);
    snprintf(name, sizeof name, "%.*s", (int)len, argv[i]);
    if (colon) arg = strtoul(colon + 1, 0, 16);
    errno = 0;
    long r = probe(name, arg);
    printf("%s %ld %d\n", argv[i], r, r == -1 ? errno : 0);
    fflush(stdout);
  }
  return 0;
}
`;

/** Freestanding i386 program: int 0x80 syscalls, results as exit-code bits. */
const I386_C = String.raw`
static long sys1(long nr, long a) { long r; __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a) : "memory"); return r; }
void _start(void) {
  int code = 0;
  if (sys1(20, 0) > 0) code |= 1;                /* getpid allowed */
  if (sys1(288, 0) == -1) code |= 2;             /* keyctl: EPERM */
  if (sys1(310, 0x10000000) == -1) code |= 4;    /* unshare(CLONE_NEWUSER): EPERM */
  if (sys1(136, 0x0040000) == -1) code |= 8;     /* personality(ADDR_NO_RANDOMIZE): EPERM */
  if (sys1(136, 0xffffffff) >= 0) code |= 16;    /* personality query: allowed */
  sys1(1, code);
}
`;

describe("filters loaded into the kernel", () => {
  let dir = "";
  let loader = "", probe = "", i386 = "";

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bunker-seccomp-"));
    const build = (name: string, source: string, flags: string[]) => {
      writeFileSync(join(dir, `${name}.c`), source);
      const out = Bun.spawnSync(["gcc", "-O1", ...flags, "-o", join(dir, name), join(dir, `${name}.c`)], { stderr: "pipe" });
      if (out.exitCode !== 0) throw new Error(`gcc ${name}: ${out.stderr.toString()}`);
      return join(dir, name);
    };
    loader = build("load-seccomp", LOADER_C, []);
    probe = build("probe", PROBE_C, []);
    i386 = build("probe-i386", I386_C, ["-m32", "-nostdlib", "-static", "-ffreestanding", "-fno-pic"]);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let filterCount = 0;
  function runUnder(filter: Uint8Array, argv: string[], flags = 0) {
    const file = join(dir, `filter-${filterCount++}.bpf`);
    writeFileSync(file, filter);
    const out = Bun.spawnSync([loader, file, String(flags), ...argv], { stdout: "pipe", stderr: "pipe" });
    return { code: out.exitCode, signal: out.signalCode, stdout: out.stdout.toString(), stderr: out.stderr.toString() };
  }

  /** Runs probes under the filter: name → [result, errno]. */
  function probes(filter: Uint8Array, names: string[]): Map<string, [number, number]> {
    const out = runUnder(filter, [probe, ...names]);
    expect(out.code).toBe(0);
    return new Map(out.stdout.trim().split("\n").map((line) => {
      const [name, result, err] = line.split(" ");
      return [name!, [Number(result), Number(err)]] as const;
    }));
  }

  const defaultFilter = () => compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: resolveCapabilities().bounding }).filter;

  test("busybox runs normally under the default profile", () => {
    const out = runUnder(defaultFilter(), ["/bin/busybox", "sh", "-c", "/bin/busybox true && echo hello | /bin/busybox tr a-z A-Z && /bin/busybox ls / >/dev/null"]);
    expect(out.stderr).toBe("");
    expect(out.stdout).toBe("HELLO\n");
    expect(out.code).toBe(0);
  });

  test("busybox unshare -U is refused with EPERM", () => {
    const out = runUnder(defaultFilter(), ["/bin/busybox", "unshare", "-U", "/bin/busybox", "true"]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("Operation not permitted");
  });

  test("probes: blocked calls fail with EPERM/ENOSYS, the rest work", () => {
    const r = probes(defaultFilter(), [
      "getpid", "fork", "keyctl", "unshare-user", "mount", "clone3", "personality:0", "personality:ffffffff",
      "personality:40000", "socket:28" /* AF_VSOCK = 40 */, "socket:2", "clone:20000" /* CLONE_NEWNS */, "clone:10000000",
    ]);
    expect(r.get("getpid")![0]).toBeGreaterThan(0);
    expect(r.get("fork")).toEqual([0, 0]);
    expect(r.get("keyctl")).toEqual([-1, EPERM]);
    expect(r.get("unshare-user")).toEqual([-1, EPERM]);
    expect(r.get("mount")).toEqual([-1, EPERM]);
    expect(r.get("clone3")).toEqual([-1, ENOSYS]);
    expect(r.get("personality:0")![1]).toBe(0);
    expect(r.get("personality:ffffffff")![1]).toBe(0);
    expect(r.get("personality:40000")).toEqual([-1, EPERM]);
    expect(r.get("socket:28")).toEqual([-1, EPERM]);
    expect(r.get("socket:2")).toEqual([0, 0]);
    expect(r.get("clone:20000")).toEqual([-1, EPERM]);
    expect(r.get("clone:10000000")).toEqual([-1, EPERM]);
  });

  test("with CAP_SYS_ADMIN the namespace and mount calls reach the kernel", () => {
    const caps = resolveCapabilities({ add: ["SYS_ADMIN"] }).bounding;
    const r = probes(compileSeccomp(DEFAULT_SECCOMP_PROFILE, { capabilities: caps }).filter, ["unshare-user", "mount", "clone3"]);
    expect(r.get("unshare-user")).toEqual([0, 0]);
    expect(r.get("mount")).toEqual([-1, ENOENT]); // the kernel, not the filter, refuses the missing target
    expect(r.get("clone3")![1]).not.toBe(ENOSYS);
  });

  test("an x32 syscall kills the process", () => {
    const out = runUnder(defaultFilter(), [probe, "getpid", "x32-getpid", "getpid"]);
    expect(out.signal).toBe("SIGSYS");
    expect(out.stdout.trim().split("\n")).toHaveLength(1);
  });

  test("i386 code is filtered with i386 numbers", () => {
    expect(runUnder(new Uint8Array(), [i386]).code).toBe(125); // an empty filter is refused by the kernel
    const unfiltered = Bun.spawnSync([i386]).exitCode;
    expect(unfiltered & 6).toBe(0);
    expect(runUnder(defaultFilter(), [i386]).code).toBe(31);
  });

  test("a Docker-format profile with 64-bit argument rules, evaluated by the kernel", () => {
    const profile = parseSeccompProfile(JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [
        { names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 42, args: [{ index: 0, value: 0x100000000, op: "SCMP_CMP_GT" }] },
        { names: ["getppid"], action: "SCMP_ACT_ERRNO", errnoRet: 43, args: [{ index: 0, value: 0xff00, valueTwo: 0x1200, op: "SCMP_CMP_MASKED_EQ" }] },
        { names: ["keyctl"], action: "SCMP_ACT_ERRNO", errnoRet: 44 },
      ],
    }));
    const r = probes(compileSeccomp(profile, { capabilities: 0n }).filter, [
      "getppid:100000001", "getppid:ffffffff", "getppid:100000000", "getppid:1234", "getppid:1334", "keyctl",
    ]);
    expect(r.get("getppid:100000001")).toEqual([-1, 42]);
    expect(r.get("getppid:ffffffff")![1]).toBe(0);
    expect(r.get("getppid:100000000")![1]).toBe(0);
    expect(r.get("getppid:1234")).toEqual([-1, 43]);
    expect(r.get("getppid:1334")![1]).toBe(0);
    expect(r.get("keyctl")).toEqual([-1, 44]);
  });
});
