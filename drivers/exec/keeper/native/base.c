/*
 * Keeper part 1: what the launcher's prelude does not declare, the keeper's limits, and small helpers.
 *
 * The keeper is compiled as ONE unit with the launcher (native/prelude.c, rootfs.c, process.c, spawn.c come
 * first, then base.c, slim.c, logs.c, records.c, protocol.c, main.c), so containers are created by exactly the
 * launcher's code. It runs in a process forked from the daemon in C and never returns to JS: libc syscall
 * wrappers only (no malloc, no stdio, no locale, no time functions), static state plus one mmap per record.
 */

int flock(int fd, int op);
int socket(int domain, int type, int protocol);
int bind(int fd, const void *addr, u32 len);
int listen(int fd, int backlog);
int accept4(int fd, void *addr, u32 *len, int flags);
int getsockopt(int fd, int level, int name, void *val, u32 *len);
int setsockopt(int fd, int level, int name, const void *val, u32 len);
int rename(const char *from, const char *to);
int unlink(const char *path);
int ftruncate(int fd, long len);
long lseek(int fd, long offset, int whence);
int getpid(void);
int mprotect(void *addr, size_t len, int prot);
/* glibc's wrapper: runs fn on `stack` in the child (without CLONE_VM, a fork onto a fresh stack). */
int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...);
extern char _GLOBAL_OFFSET_TABLE_[];

#if defined(__x86_64__)
#define SYS_signalfd4 289
#define SYS_clock_gettime 228
#define SYS_arch_prctl 158
#elif defined(__aarch64__)
#define SYS_signalfd4 74
#define SYS_clock_gettime 113
#endif

#define SOCK_NONBLOCK 04000
#define O_TRUNC 01000
#define O_APPEND 02000
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define SO_PEERCRED 17
#define SO_RCVBUFFORCE 33
#define MSG_TRUNC 0x20
#define MSG_DONTWAIT 0x40
#define MSG_NOSIGNAL 0x4000
#define POLLOUT 4
#define POLLERR 8
#define POLLHUP 16
#define LOCK_EX 2
#define LOCK_NB 4
#define EAGAIN 11
#define ESRCH 3
#define EIO 5
#define EPIPE 32
#define WNOHANG 1
#define F_SETPIPE_SZ 1031
#define SEEK_END 2
#define PR_SET_NAME 15
#define PR_SET_CHILD_SUBREAPER 36
#define SIGPIPE 13
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define MAP_NORESERVE 0x4000
#define PROT_EXEC 4
#define PROT_NONE 0

struct ucred { int pid; u32 uid; u32 gid; };
struct sockaddr_un { u16 family; char path[108]; };
struct timespec { long sec; long nsec; };

/* ---- limits ---- */
#define KEEPER_PROTO 1
#define KEEPER_MINPROTO 1
#define MAX_RECORDS 256
#define MAX_CONNS 16
#define MAX_ATTACH 4
#define CHUNK 16384               /* one read from a container, and docker's partial-line limit */
#define ID_MAX 80
#define LOG_PATH_MAX 1024
#define REQ_MAX (256 * 1024)      /* largest request (a run/exec config blob) */
#define REPLY_MAX (96 * 1024)     /* largest reply (list) */
#define ATTACH_PIPE_SIZE (256 * 1024)

/* ---- state shared by every part ---- */
static char k_state[1024];        /* the state directory */
static char k_build[128];
static u64 k_started_ns;
static int k_slimmed;
static int k_listen = -1, k_sigfd = -1, k_lock = -1;
static int k_draining;
static char k_scratch[4096 + 64]; /* path building in the keeper (the launcher's g_path belongs to children) */

/*
 * The big buffers are mapped after slim rather than static: TinyCC zeroes .bss when it relocates, which
 * dirties every page of it, while fresh anonymous pages cost nothing until they are used.
 */
#define LINE_CAP (CHUNK * 6 + 256)  /* one json-file entry: a 16 KiB line, every byte escaped */
#define MAX_POLL (2 + MAX_CONNS + MAX_RECORDS * (1 + 2 + 2 * MAX_ATTACH))
struct poll_tag { u8 kind, stream, att, pad; int index; };
static char *k_req, *k_reply, *k_line, *k_io;
static struct pollfd *k_pfd;
static struct poll_tag *k_ptag;

static int map_buffers(void) {
  size_t size = REQ_MAX + REPLY_MAX + LINE_CAP + CHUNK + MAX_POLL * (sizeof(struct pollfd) + sizeof(struct poll_tag));
  u8 *m = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == (void *)-1) return -1;
  k_req = (char *)m; m += REQ_MAX;
  k_reply = (char *)m; m += REPLY_MAX;
  k_line = (char *)m; m += LINE_CAP;
  k_io = (char *)m; m += CHUNK;
  k_pfd = (struct pollfd *)m; m += MAX_POLL * sizeof(struct pollfd);
  k_ptag = (struct poll_tag *)m;
  return 0;
}

static u64 now_ns(void) {
  /* The raw syscall: glibc's clock_gettime would go through the vDSO pointer kept in ld.so's data. */
  struct timespec ts;
  syscall(SYS_clock_gettime, 0 /* CLOCK_REALTIME */, &ts);
  return (u64)ts.sec * 1000000000ull + (u64)ts.nsec;
}
static u64 monotonic_ms(void) {
  struct timespec ts;
  syscall(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
  return (u64)ts.sec * 1000ull + (u64)ts.nsec / 1000000ull;
}

/* Append helpers over a (buf, cap, *len) triple: they stop at the capacity and never write past it. */
static void put_bytes(char *buf, size_t cap, size_t *len, const char *s, size_t n) {
  if (*len + n > cap) n = cap - *len;
  copy_bytes(buf + *len, s, n);
  *len += n;
}
static void put_str(char *buf, size_t cap, size_t *len, const char *s) { put_bytes(buf, cap, len, s, str_len(s)); }
static void put_u64(char *buf, size_t cap, size_t *len, u64 v) { char num[24]; fmt_uint(num, v); put_str(buf, cap, len, num); }
static void put_int(char *buf, size_t cap, size_t *len, long v) {
  if (v < 0) { put_str(buf, cap, len, "-"); v = -v; }
  put_u64(buf, cap, len, (u64)v);
}

static int parse_u64(const char *s, u64 *out) {
  u64 v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 1844674407370955160ull) return -1;
    v = v * 10 + (u64)(*s - '0');
  }
  *out = v;
  return 0;
}

/* "<state>/<name>" into k_scratch. */
static const char *state_path(const char *name, const char *suffix) {
  k_scratch[0] = 0;
  cat(k_scratch, sizeof k_scratch, k_state);
  cat(k_scratch, sizeof k_scratch, "/");
  cat(k_scratch, sizeof k_scratch, name);
  if (suffix) cat(k_scratch, sizeof k_scratch, suffix);
  return k_scratch;
}

/* keeper.log (fd 2): one line per notable event, "<ns> <what> <detail> <number>". */
static void klog(const char *what, const char *detail, long number) {
  char line[512];
  size_t n = 0;
  put_u64(line, sizeof line - 1, &n, now_ns());
  put_str(line, sizeof line - 1, &n, " ");
  put_str(line, sizeof line - 1, &n, what);
  if (detail) { put_str(line, sizeof line - 1, &n, " "); put_str(line, sizeof line - 1, &n, detail); }
  put_str(line, sizeof line - 1, &n, " ");
  put_int(line, sizeof line - 1, &n, number);
  line[n++] = '\n';
  write(2, line, n);
}

/* Write a whole file atomically: <path>.tmp, then rename over <path>. */
static int write_file_atomic(const char *path, const char *data, size_t len) {
  static char tmp[4096 + 8];
  int fd, ok;
  tmp[0] = 0;
  if (!cat(tmp, sizeof tmp, path) || !cat(tmp, sizeof tmp, ".tmp")) return -1;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ok = write(fd, data, len) == (ssize_t)len;
  close(fd);
  if (!ok || rename(tmp, path) < 0) { unlink(tmp); return -1; }
  return 0;
}

/* One SEQPACKET message with up to 4 fds, without blocking; -1 when the peer cannot take it now. */
static int send_message(int sock, const void *data, size_t len, const int *fds, int nfds) {
  struct msghdr msg;
  struct iovec iov;
  union { struct cmsghdr h; u8 buf[sizeof(struct cmsghdr) + 4 * sizeof(int)]; } control;
  ssize_t n;
  zero_bytes(&msg, sizeof msg);
  iov.base = (void *)data; iov.len = len;
  msg.iov = &iov; msg.iovlen = 1;
  if (nfds > 0) {
    zero_bytes(&control, sizeof control);
    control.h.len = sizeof(struct cmsghdr) + (size_t)nfds * sizeof(int);
    control.h.level = SOL_SOCKET; control.h.type = SCM_RIGHTS;
    copy_bytes(control.buf + sizeof(struct cmsghdr), fds, (size_t)nfds * sizeof(int));
    msg.control = control.buf; msg.controllen = (sizeof(struct cmsghdr) + (size_t)nfds * sizeof(int) + 7) & ~(size_t)7;
  }
  do n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  return n == (ssize_t)len ? 0 : -1;
}
