/**
 * Bunker's default seccomp profile, with the semantics of Docker's default: everything not listed fails with
 * EPERM; the list is what ordinary programs need; calls that reach kernel-global state (mount, modules, clock,
 * keyrings, namespaces, kexec, bpf, perf, …) are allowed only when the container holds the capability the kernel
 * would check anyway. Where we differ from Docker: `unshare` needs CAP_SYS_ADMIN (new user namespaces are
 * attack surface), and io_uring stays blocked (as Docker also does today).
 */
import type { SeccompProfile, SeccompRule } from "./profile";

const AF_VSOCK = 40n;
const CLONE_NAMESPACE_FLAGS = 0x7e020000n; // NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
const ENOSYS = 38;

const processAndIdentity = [
  "execve", "execveat", "exit", "exit_group", "fork", "vfork", "wait4", "waitid", "waitpid", "restart_syscall",
  "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setsid", "setpgid", "kill", "tkill", "tgkill",
  "pidfd_open", "pidfd_send_signal", "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "prctl",
  "capget", "capset", "uname", "sysinfo", "getrusage", "times", "getcpu", "getpriority", "setpriority",
  "ioprio_get", "ioprio_set", "prlimit64", "getrlimit", "setrlimit", "ugetrlimit", "umask", "seccomp",
  "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "uretprobe", "getrandom",
];

const credentials = [
  "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid", "setreuid",
  "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
  // i386 spells the 32-bit-id variants separately
  "getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32", "getgroups32", "setuid32",
  "setgid32", "setreuid32", "setregid32", "setresuid32", "setresgid32", "setgroups32", "setfsuid32", "setfsgid32",
];

const signals = [
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait",
  "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4",
  "sigreturn", "sigprocmask", "pause", "alarm", "getitimer", "setitimer",
];

const memory = [
  "brk", "mmap", "mmap2", "munmap", "mprotect", "mremap", "madvise", "mincore", "msync", "mlock", "mlock2",
  "mlockall", "munlock", "munlockall", "membarrier", "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free",
  "pkey_mprotect", "remap_file_pages", "map_shadow_stack", "mseal", "process_mrelease",
];

const timeAndScheduling = [
  "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam",
  "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
  "sched_rr_get_interval", "sched_rr_get_interval_time64", "nanosleep", "clock_nanosleep", "clock_nanosleep_time64",
  "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "gettimeofday", "time", "adjtimex",
  "clock_adjtime", "clock_adjtime64", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
  "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
  "timerfd_settime", "timerfd_settime64", "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake",
  "futex_requeue", "get_thread_area", "set_thread_area",
];

const fileIo = [
  "open", "openat", "openat2", "creat", "close", "close_range", "read", "write", "readv", "writev", "pread64",
  "pwrite64", "preadv", "preadv2", "pwritev", "pwritev2", "lseek", "_llseek", "dup", "dup2", "dup3", "pipe",
  "pipe2", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
  "fallocate", "fadvise64", "fadvise64_64", "readahead", "truncate", "truncate64", "ftruncate", "ftruncate64",
  "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "cachestat",
];

const filesystemTree = [
  "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs",
  "statfs64", "fstatfs", "fstatfs64", "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "mkdir",
  "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat", "symlink",
  "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown",
  "fchown32", "fchownat", "lchown", "lchown32", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
  "mknod", "mknodat", "getdents", "getdents64", "name_to_handle_at", "statmount", "listmount", "file_getattr",
  "file_setattr", "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr",
  "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr", "lremovexattr",
  "fremovexattr", "removexattrat",
];

const eventsAndAsyncIo = [
  "select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll", "ppoll_time64", "epoll_create",
  "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2",
  "eventfd", "eventfd2", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark",
  "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
];

const networking = [
  "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "getsockopt",
  "setsockopt", "shutdown", "send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg",
  "recvmmsg_time64", "socketcall",
];

const ipc = [
  "ipc", "semget", "semctl", "semop", "semtimedop", "semtimedop_time64", "shmget", "shmat", "shmdt", "shmctl",
  "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64",
  "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
];

const allow = (names: string[], extra: Partial<SeccompRule> = {}): SeccompRule => ({ names, action: "SCMP_ACT_ALLOW", ...extra });
const withCap = (cap: string, names: string[]): SeccompRule => allow(names, { includes: { caps: [cap] } });

/** personality(2) values that only select a compatible ABI: Linux, Linux32, UNAME26, both, and the query. */
const personalityRules = [0x0n, 0x8n, 0x20000n, 0x20008n, 0xffffffffn].map((value) =>
  allow(["personality"], { args: [{ index: 0, value, valueTwo: 0n, op: "SCMP_CMP_EQ" }] }),
);

export const DEFAULT_SECCOMP_PROFILE: SeccompProfile = {
  defaultAction: "SCMP_ACT_ERRNO",
  defaultErrnoRet: 1,
  archMap: [
    { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
    { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
  ],
  syscalls: [
    allow([...processAndIdentity, ...credentials, ...signals, ...memory, ...timeAndScheduling, ...fileIo,
      ...filesystemTree, ...eventsAndAsyncIo, ...networking, ...ipc]),
    allow(["socket"], { args: [{ index: 0, value: AF_VSOCK, valueTwo: 0n, op: "SCMP_CMP_NE" }], comment: "no host vsock" }),
    ...personalityRules,
    allow(["arch_prctl", "modify_ldt"], { includes: { arches: ["amd64"] } }),
    // Since 4.8 seccomp is re-checked after a tracer changes a syscall, so ptrace cannot be used to escape the filter.
    allow(["ptrace", "process_vm_readv", "process_vm_writev"], { includes: { minKernel: "4.8" } }),
    allow(["clone"], {
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0n, op: "SCMP_CMP_MASKED_EQ" }],
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "threads and fork, but no new namespaces",
    }),
    {
      names: ["clone3"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: ENOSYS,
      excludes: { caps: ["CAP_SYS_ADMIN"] },
      comment: "its flags live in memory the filter cannot read; ENOSYS makes libc fall back to clone",
    },
    withCap("CAP_SYS_ADMIN", [
      "clone", "clone3", "unshare", "setns", "mount", "umount", "umount2", "mount_setattr", "move_mount",
      "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "pivot_root", "sethostname",
      "setdomainname", "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", "bpf", "perf_event_open",
      "syslog", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
    ]),
    withCap("CAP_DAC_READ_SEARCH", ["open_by_handle_at"]),
    withCap("CAP_SYS_BOOT", ["reboot"]),
    withCap("CAP_SYS_CHROOT", ["chroot"]),
    withCap("CAP_SYS_MODULE", ["init_module", "finit_module", "delete_module"]),
    withCap("CAP_SYS_PACCT", ["acct"]),
    withCap("CAP_SYS_PTRACE", ["ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise"]),
    withCap("CAP_SYS_RAWIO", ["iopl", "ioperm"]),
    withCap("CAP_SYS_TIME", ["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    withCap("CAP_SYS_TTY_CONFIG", ["vhangup"]),
    withCap("CAP_SYS_NICE", ["get_mempolicy", "set_mempolicy", "set_mempolicy_home_node", "mbind"]),
    withCap("CAP_SYSLOG", ["syslog"]),
    withCap("CAP_BPF", ["bpf"]),
    withCap("CAP_PERFMON", ["perf_event_open"]),
  ],
};
