/*
 * Bunker container launcher: everything between clone() and execve().
 * One compilation unit made of prelude.c, rootfs.c, process.c and spawn.c, concatenated in that order by
 * native.ts (so only this file declares things; the others use them).
 *
 * Compiled at daemon start by bun:ffi's TinyCC from a memfd copy of this file. No #include: system headers
 * may be missing, so every prototype, constant and struct below is declared here (x86_64 and aarch64 Linux).
 *
 * Rules that make this code safe to run from a multi-threaded Bun process today and from the C "keeper"
 * later:
 *  - The caller hands over one self-contained config blob (see wire.ts). It is copied into an mmap'ed
 *    arena *before* clone, so the child never touches memory owned by the JS heap (JSC maps its heap
 *    MADV_DONTFORK: the child does not have it).
 *  - The child uses static state, the arena and its stack only: no malloc, no stdio, no locale. Credentials
 *    change through raw syscalls, because glibc's setuid family would try to signal the parent's threads.
 *  - The child reports failure as one (step, errno, detail) record on a CLOEXEC SOCK_SEQPACKET channel;
 *    end-of-file on that channel means execve succeeded.
 */

typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

long syscall(long number, ...);
int *__errno_location(void);
#define errno (*__errno_location())

int open(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int close(int fd);
ssize_t read(int fd, void *buf, size_t len);
ssize_t write(int fd, const void *buf, size_t len);
int dup2(int oldfd, int newfd);
int fcntl(int fd, int cmd, ...);
int ioctl(int fd, unsigned long request, ...);
int pipe2(int fds[2], int flags);
int socketpair(int domain, int type, int protocol, int fds[2]);
ssize_t sendmsg(int fd, const void *msg, int flags);
ssize_t recvmsg(int fd, void *msg, int flags);
int poll(void *fds, unsigned long nfds, int timeout);
int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data);
int umount2(const char *target, int flags);
int mkdirat(int dirfd, const char *path, u32 mode);
int mknodat(int dirfd, const char *path, u32 mode, u64 dev);
int symlinkat(const char *target, int dirfd, const char *linkpath);
int unlinkat(int dirfd, const char *path, int flags);
int fchownat(int dirfd, const char *path, u32 uid, u32 gid, int flags);
int fchdir(int fd);
int chdir(const char *path);
char *getcwd(char *buf, size_t size);
int sethostname(const char *name, size_t len);
int setdomainname(const char *name, size_t len);
int setns(int fd, int nstype);
int unshare(int flags);
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int execve(const char *path, char *const argv[], char *const envp[]);
void _exit(int status);
int kill(int pid, int sig);
int waitpid(int pid, int *status, int options);
int setsid(void);
ssize_t readlink(const char *path, char *buf, size_t len);
u32 umask(u32 mask);
void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t len);

#if defined(__x86_64__)
#define SYS_clone 56
#define SYS_pivot_root 155
#define SYS_setgroups 116
#define SYS_setresuid 117
#define SYS_setresgid 119
#define SYS_rt_sigaction 13
#define SYS_rt_sigprocmask 14
#define SYS_prlimit64 302
#define SYS_capget 125
#define SYS_capset 126
#define SYS_statx 332
#define O_DIRECTORY 0200000
#define O_NOFOLLOW 0400000
#elif defined(__aarch64__)
#define SYS_clone 220
#define SYS_pivot_root 41
#define SYS_setgroups 159
#define SYS_setresuid 147
#define SYS_setresgid 149
#define SYS_rt_sigaction 134
#define SYS_rt_sigprocmask 135
#define SYS_prlimit64 261
#define SYS_capget 90
#define SYS_capset 91
#define SYS_statx 291
#define O_DIRECTORY 040000
#define O_NOFOLLOW 0100000
#else
#error "unsupported architecture"
#endif
/* Syscalls added since Linux 5.0 share one number on every architecture. */
#define SYS_pidfd_send_signal 424
#define SYS_pidfd_open 434
#define SYS_close_range 436
#define SYS_openat2 437
#define SYS_mount_setattr 442

#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_NOCTTY 0400
#define O_NONBLOCK 04000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_EMPTY_PATH 0x1000
#define AT_RECURSIVE 0x8000
#define F_GETFL 3
#define F_SETFL 4
#define F_DUPFD_CLOEXEC 1030

#define EINTR 4
#define ENOENT 2
#define EACCES 13
#define EEXIST 17
#define EISDIR 21
#define EINVAL 22
#define ENOSYS 38
#define ETIMEDOUT 110

#define CLONE_PIDFD 0x1000
#define CLONE_PARENT 0x8000
#define CLONE_NEWNS 0x20000
#define CLONE_NEWCGROUP 0x02000000
#define CLONE_NEWUTS 0x04000000
#define CLONE_NEWIPC 0x08000000
#define CLONE_NEWPID 0x20000000
#define CLONE_NEWNET 0x40000000
#define SIGKILL 9
#define SIGCHLD 17

#define MS_RDONLY 1
#define MS_NOSUID 2
#define MS_NODEV 4
#define MS_NOEXEC 8
#define MS_BIND 4096
#define MS_REC 16384
#define MS_PRIVATE (1 << 18)
#define MS_STRICTATIME (1 << 24)
#define MNT_DETACH 2
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8

#define S_IFMT 0170000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFBLK 0060000
#define STATX_TYPE 1
#define STATX_MODE 2

#define TIOCSCTTY 0x540E
#define TIOCSWINSZ 0x5414
#define TIOCGPTN 0x80045430
#define TIOCSPTLCK 0x40045431
#define TIOCGPTPEER 0x5441

#define PR_SET_PDEATHSIG 1
#define PR_SET_DUMPABLE 4
#define PR_SET_KEEPCAPS 8
#define PR_SET_SECCOMP 22
#define PR_CAPBSET_READ 23
#define PR_CAPBSET_DROP 24
#define PR_SET_NO_NEW_PRIVS 38
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#define SECCOMP_MODE_FILTER 2
#define LINUX_CAPABILITY_VERSION_3 0x20080522

#define AF_UNIX 1
#define SOCK_SEQPACKET 5
#define SOCK_CLOEXEC 02000000
#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define POLLIN 1
#define MSG_CMSG_CLOEXEC 0x40000000
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20

struct pollfd { int fd; short events; short revents; };
struct iovec { void *base; size_t len; };
struct msghdr {
  void *name; u32 namelen; struct iovec *iov; size_t iovlen; void *control; size_t controllen; int flags;
};
struct cmsghdr { size_t len; int level; int type; };
struct open_how { u64 flags; u64 mode; u64 resolve; };
struct mount_attr { u64 attr_set; u64 attr_clr; u64 propagation; u64 userns_fd; };
struct statx_head { u32 mask; u32 blksize; u64 attributes; u32 nlink; u32 uid; u32 gid; u16 mode; u8 rest[226]; };
struct cap_header { u32 version; int pid; };
struct cap_data { u32 effective; u32 permitted; u32 inheritable; };
struct sock_fprog { u16 len; void *filter; };
struct winsize { u16 rows; u16 cols; u16 xpixel; u16 ypixel; };
struct kernel_sigaction { void *handler; unsigned long flags; void *restorer; u64 mask; };
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT 0x10

/* ---- wire format: keep in sync with wire.ts ---- */
#define BLOB_MAGIC 0x314c4b42u /* "BKL1" */
enum tag {
  T_ROOTFS = 1, T_CLONE_FLAGS, T_OPTIONS, T_JOIN_NS, T_HOSTNAME, T_DOMAINNAME, T_MOUNT, T_MASK, T_READONLY,
  T_SYSCTL, T_RLIMIT, T_USER, T_GROUPS, T_CAPS, T_SECCOMP, T_ARG, T_ENV, T_CWD, T_CGROUP_JOIN, T_TARGET_PID,
  T_SHM_SIZE, T_WINSIZE, T_TARGET_PIDFD, T_DEVICE
};
enum option {
  OPT_TTY = 1, OPT_STDIN = 2, OPT_READONLY_ROOT = 4, OPT_NO_NEW_PRIVS = 8, OPT_BIND_SYS = 16, OPT_SYS_RW = 32,
  OPT_NEW_CGROUPNS = 64, OPT_MAKE_CWD = 128
};
/* Steps name what failed; errors.ts turns them into messages. */
enum step {
  S_CONFIG = 1, S_CHANNEL, S_CLONE, S_CGROUP, S_SYNC, S_JOIN_NS, S_UNSHARE, S_ROOTFS, S_MOUNT, S_DEVICES,
  S_PIVOT, S_MASK, S_READONLY, S_SYSCTL, S_HOSTNAME, S_DOMAINNAME, S_PTY, S_STDIO, S_CLOSE_FDS, S_RLIMIT, S_CWD,
  S_LOOKUP, S_EXEC, S_GROUPS, S_SETGID, S_SETUID, S_CAPS, S_NO_NEW_PRIVS, S_SECCOMP, S_TIMEOUT, S_NS_OPEN,
  S_PIDFD
};
/* Message kinds on the channel. */
#define MSG_GO 'G'
#define MSG_ERROR 'E'
#define MSG_PTY 'T'
#define MSG_PID 'I'

/* Slots of the int array the caller passes to bk_spawn. */
enum out_slot { OUT_PID, OUT_PIDFD, OUT_CHANNEL, OUT_STDIN, OUT_STDOUT, OUT_STDERR, OUT_COUNT };

#define DETAIL_MAX 500
struct error_record { u32 kind; u32 step; int err; char detail[DETAIL_MAX]; };
struct pid_record { u32 kind; int pid; };

/* ---- state: the parsed config, shared read-only with the child through clone's copy ---- */
static u8 *g_arena;
static size_t g_arena_size;
static u8 *g_blob;
static u32 g_blob_len;
static u32 g_options;
static u64 g_clone_flags;
static const char *g_rootfs;
static const char *g_cwd;
static char **g_argv;
static char **g_envp;
static u32 g_target_pid;
static int g_target_pidfd = -1;
static int g_chan = -1;          /* the child's end of the channel */
static int g_rootfd = -1;
static char g_path[4096];        /* scratch for path building in the child */
static char g_exe[4096];         /* resolved executable */

/* ---- small string helpers (no libc string functions: keep the child self-contained) ---- */
static size_t str_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
static int str_eq(const char *a, const char *b) { while (*a && *a == *b) { a++; b++; } return *a == *b; }
static int has_prefix(const char *s, const char *p) { while (*p) if (*s++ != *p++) return 0; return 1; }
static void copy_bytes(void *dst, const void *src, size_t n) { u8 *d = dst; const u8 *s = src; while (n--) *d++ = *s++; }
static void zero_bytes(void *dst, size_t n) { u8 *d = dst; while (n--) *d++ = 0; }
/* Bounded concatenation into buf[cap]; returns 0 when the result did not fit. */
static int cat(char *buf, size_t cap, const char *s) {
  size_t n = str_len(buf);
  while (*s) { if (n + 1 >= cap) return 0; buf[n++] = *s++; }
  buf[n] = 0;
  return 1;
}
static void fmt_uint(char *buf, u64 v) {
  char tmp[24]; int n = 0;
  do { tmp[n++] = '0' + (char)(v % 10); v /= 10; } while (v);
  while (n) *buf++ = tmp[--n];
  *buf = 0;
}
/* "/proc/self/fd/N": how the child names an fd it resolved safely, as a mount source or target. */
static const char *fd_path(int fd, char *buf) {
  buf[0] = 0; cat(buf, 32, "/proc/self/fd/");
  fmt_uint(buf + str_len(buf), (u64)fd);
  return buf;
}

/* ---- config blob ---- */
static u32 rd32(const u8 *p) { u32 v; copy_bytes(&v, p, 4); return v; }
static u64 rd64(const u8 *p) { u64 v; copy_bytes(&v, p, 8); return v; }
/* Iterate records with a given tag: pass *pos = 8 (after the header) first; returns payload or 0 at the end. */
static const u8 *next_rec(u32 tag, u32 *pos, u32 *len) {
  while (*pos + 8 <= g_blob_len) {
    u32 t = rd32(g_blob + *pos), l = rd32(g_blob + *pos + 4);
    const u8 *payload = g_blob + *pos + 8;
    *pos += 8 + ((l + 7) & ~7u);
    if (t == tag) { *len = l; return payload; }
  }
  return 0;
}
static const u8 *first_rec(u32 tag, u32 *len) { u32 pos = 8, l = 0; const u8 *p = next_rec(tag, &pos, &l); if (len) *len = l; return p; }
static u32 count_recs(u32 tag) { u32 pos = 8, l, n = 0; while (next_rec(tag, &pos, &l)) n++; return n; }

static u32 count_nuls(const u8 *p, u32 len) { u32 n = 0; while (len--) n += *p++ == 0; return n; }

/*
 * Every record lies inside the blob, has its fixed part, and its strings end inside it: the C side never
 * trusts lengths it has not checked (a keeper will receive these bytes over a socket).
 */
static int valid_blob(const u8 *blob, u32 len) {
  u32 pos = 8;
  if (len < 8 || rd32(blob) != BLOB_MAGIC || rd32(blob + 4) != len) return 0;
  while (pos < len) {
    u32 tag, l, fixed = 0, strings = 0;
    const u8 *p;
    if (len - pos < 8) return 0;
    tag = rd32(blob + pos); l = rd32(blob + pos + 4); p = blob + pos + 8;
    if (l > len - pos - 8) return 0;
    switch (tag) {
      case T_ROOTFS: case T_HOSTNAME: case T_DOMAINNAME: case T_MASK: case T_READONLY: case T_ARG: case T_ENV:
      case T_CWD: case T_CGROUP_JOIN: strings = 1; break;
      case T_SYSCTL: strings = 2; break;
      case T_MOUNT: fixed = 16; strings = 4; break;
      case T_DEVICE: fixed = 24; strings = 2; break;
      case T_JOIN_NS: fixed = 8; strings = 1; break;
      case T_OPTIONS: case T_TARGET_PID: case T_TARGET_PIDFD: fixed = 4; break;
      case T_CLONE_FLAGS: case T_SHM_SIZE: case T_USER: fixed = 8; break;
      case T_RLIMIT: fixed = 24; break;
      case T_CAPS: fixed = 32; break;
      case T_WINSIZE: fixed = 4; break;
      case T_GROUPS: fixed = 4; break;
      case T_SECCOMP: if (l == 0 || l % 8 || l / 8 > 0xffff) return 0; break;
      default: return 0;
    }
    if (l < fixed) return 0;
    if (strings && (l == fixed || p[l - 1] != 0 || count_nuls(p + fixed, l - fixed) < strings)) return 0;
    if (tag == T_GROUPS && (u64)rd32(p) * 4 > l - 4) return 0;
    pos += 8 + ((l + 7) & ~7u);
  }
  return pos == len;
}

/* Copy the blob into the arena and build argv/envp there. Runs in the parent, before clone. */
static int prepare(const u8 *blob, u32 len) {
  u32 nargs, nenv;
  size_t need;
  if (!valid_blob(blob, len)) return -1;
  g_blob = (u8 *)blob; g_blob_len = len;   /* temporarily, to count */
  nargs = count_recs(T_ARG); nenv = count_recs(T_ENV);
  if (nargs == 0) return -1;
  need = ((len + 15) & ~(size_t)15) + (nargs + nenv + 2) * sizeof(char *);
  if (need > g_arena_size) {
    size_t size = (need + 65535) & ~(size_t)65535;
    void *m = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == (void *)-1) { g_blob = 0; return -1; }
    if (g_arena) munmap(g_arena, g_arena_size);
    g_arena = m; g_arena_size = size;
  }
  copy_bytes(g_arena, blob, len);
  g_blob = g_arena;
  g_argv = (char **)(g_arena + ((len + 15) & ~(size_t)15));
  g_envp = g_argv + nargs + 1;
  {
    u32 pos = 8, l, i = 0; const u8 *p;
    while ((p = next_rec(T_ARG, &pos, &l))) g_argv[i++] = (char *)p;
    g_argv[i] = 0;
    pos = 8; i = 0;
    while ((p = next_rec(T_ENV, &pos, &l))) g_envp[i++] = (char *)p;
    g_envp[i] = 0;
  }
  {
    const u8 *p;
    g_options = (p = first_rec(T_OPTIONS, 0)) ? rd32(p) : 0;
    g_clone_flags = (p = first_rec(T_CLONE_FLAGS, 0)) ? rd64(p) : 0;
    g_rootfs = (const char *)first_rec(T_ROOTFS, 0);
    g_cwd = (const char *)first_rec(T_CWD, 0);
    g_target_pid = (p = first_rec(T_TARGET_PID, 0)) ? rd32(p) : 0;
    g_target_pidfd = (p = first_rec(T_TARGET_PIDFD, 0)) ? (int)rd32(p) : -1;
  }
  if (!g_cwd) return -1;
  if (!g_target_pid && !g_rootfs) return -1;
  return 0;
}

/* ---- error reporting ---- */
static void set_error(struct error_record *rec, u32 step, int err, const char *detail) {
  size_t i = 0;
  rec->kind = MSG_ERROR; rec->step = step; rec->err = err;
  if (detail) for (; detail[i] && i < DETAIL_MAX - 1; i++) rec->detail[i] = detail[i];
  rec->detail[i] = 0;
}
/* Child only: report (step, errno, detail) to the parent and die. */
static void fail(u32 step, const char *detail) {
  struct error_record rec;
  set_error(&rec, step, errno, detail);
  write(g_chan, &rec, sizeof rec);
  _exit(127);
}
static void fail_errno(u32 step, int err, const char *detail) { errno = err; fail(step, detail); }
