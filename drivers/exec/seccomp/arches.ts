/** The architectures the seccomp compiler has syscall tables for, keyed by libseccomp's SCMP_ARCH_* names. */
import { AARCH64_SYSCALLS, X86_64_SYSCALLS, X86_SYSCALLS, type SyscallTable } from "./syscalls";

export interface SeccompArch {
  scmpName: string;
  /** AUDIT_ARCH_* value the kernel puts in seccomp_data.arch. */
  auditArch: number;
  syscalls: SyscallTable;
}

export const SECCOMP_ARCHES: Readonly<Record<string, SeccompArch>> = {
  SCMP_ARCH_X86_64: { scmpName: "SCMP_ARCH_X86_64", auditArch: 0xc000003e, syscalls: X86_64_SYSCALLS },
  SCMP_ARCH_X86: { scmpName: "SCMP_ARCH_X86", auditArch: 0x40000003, syscalls: X86_SYSCALLS },
  SCMP_ARCH_AARCH64: { scmpName: "SCMP_ARCH_AARCH64", auditArch: 0xc00000b7, syscalls: AARCH64_SYSCALLS },
};

/**
 * x32 processes enter through AUDIT_ARCH_X86_64 with this bit set in the syscall number; a filter written for
 * x86_64 numbers must not let them through.
 */
export const X32_SYSCALL_BIT = 0x40000000;

export type NativeArch = "SCMP_ARCH_X86_64" | "SCMP_ARCH_AARCH64";

export function nativeArch(nodeArch: string = process.arch): NativeArch {
  if (nodeArch === "x64") return "SCMP_ARCH_X86_64";
  if (nodeArch === "arm64") return "SCMP_ARCH_AARCH64";
  throw new Error(`seccomp: no syscall table for architecture ${nodeArch}`);
}

/** The Go names Docker profiles use for the native architecture in `includes.arches` / `excludes.arches`. */
export const GO_ARCH_NAMES: Readonly<Record<NativeArch, string>> = {
  SCMP_ARCH_X86_64: "amd64",
  SCMP_ARCH_AARCH64: "arm64",
};
