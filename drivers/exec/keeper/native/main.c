/*
 * Keeper part 6: birth (keeper_start, called once by the daemon through FFI) and the poll loop.
 *
 * keeper_start double-forks from C with glibc's clone() onto stacks mapped here, so the keeper never runs
 * on (or returns into) the daemon's stack: daemon → intermediate (exits at once, reaped here) → keeper,
 * orphaned at birth. keeper_start takes the state directory's lock first (one keeper per directory: when
 * another holds it, nothing is forked) and the keeper inherits it. The keeper resets signals, leaves the
 * daemon's session, closes every other inherited fd, listens, slims, then reports "listening, pid N" (or
 * the stage that failed and errno) on a pipe the daemon reads before keeper_start returns.
 */

#define START_SLIM 1
#define KEEPER_STACK (256 * 1024)
#define MIDDLE_STACK (64 * 1024)

enum start_stage {
  KS_OK, KS_STACK, KS_PIPE, KS_CLONE, KS_TIMEOUT, KS_STATE_DIR, KS_LOG, KS_LOCK, KS_LOCKED, KS_SOCKET, KS_BIND,
  KS_LISTEN, KS_SIGNALFD, KS_PIDFILE, KS_DEVNULL, KS_BUFFERS
};
struct start_report { int pid, stage, err, slimmed; };
static int k_report = -1;
static int k_flags;

enum poll_kind { P_SIGNAL, P_LISTEN, P_CONN, P_CHAN, P_SRC, P_ATT };

static void report(int stage, int err) {
  struct start_report r;
  r.pid = getpid(); r.stage = stage; r.err = err; r.slimmed = k_slimmed;
  write(k_report, &r, sizeof r);
}
static void die_at(int stage) {
  report(stage, errno);
  _exit(1);
}

static void keeper_exit(void) {
  klog("exit", 0, getpid());
  unlink(state_path("keeper.sock", 0));
  unlink(state_path("keeper.pid", 0));
  _exit(0);
}

/* shutdown: kill what still runs, reap it (exit files and events as usual, up to 10 s), then exit. */
static void shutdown_all(void) {
  u64 deadline = monotonic_ms() + 10000;
  int i, live;
  for (i = 0; i < MAX_RECORDS; i++) if (k_records[i] && alive(k_records[i])) pidfd_signal(k_records[i], SIGKILL);
  do {
    struct pollfd p;
    p.fd = k_sigfd; p.events = POLLIN; p.revents = 0;
    poll(&p, 1, 100);
    reap();
    for (i = 0, live = 0; i < MAX_RECORDS; i++) if (k_records[i] && k_records[i]->pid > 0 && alive(k_records[i])) live++;
  } while (live && monotonic_ms() < deadline);
  keeper_exit();
}

static int watch(int n, int fd, short events, int kind, int index, int stream, int att) {
  if (n == MAX_POLL) return n;
  k_pfd[n].fd = fd; k_pfd[n].events = events; k_pfd[n].revents = 0;
  k_ptag[n].kind = (u8)kind; k_ptag[n].index = index; k_ptag[n].stream = (u8)stream; k_ptag[n].att = (u8)att;
  return n + 1;
}

/* The poll set for this round (the signalfd first); *timeout_ms is the nearest release deadline (-1: none). */
static int build_poll_set(int *timeout_ms) {
  int i, s, a, n = watch(0, k_sigfd, POLLIN, P_SIGNAL, 0, 0, 0);
  u64 now = monotonic_ms();
  *timeout_ms = -1;
  for (i = 0; i < MAX_CONNS && k_conns[i].fd >= 0; i++) {}
  if (i < MAX_CONNS) n = watch(n, k_listen, POLLIN, P_LISTEN, 0, 0, 0);
  for (i = 0; i < MAX_CONNS; i++) if (k_conns[i].fd >= 0) n = watch(n, k_conns[i].fd, POLLIN, P_CONN, i, 0, 0);
  for (i = 0; i < MAX_RECORDS; i++) {
    struct record *r = k_records[i];
    if (!r) continue;
    if (r->state == R_STARTING) {
      int left = r->deadline_ms > now ? (int)(r->deadline_ms - now) : 0;
      n = watch(n, r->chan, POLLIN, P_CHAN, i, 0, 0);
      if (*timeout_ms < 0 || left < *timeout_ms) *timeout_ms = left;
    }
    for (s = 0; s < 2; s++) {
      struct stream *st = &r->out[s];
      if (st->src >= 0 && !st->pending_len) n = watch(n, st->src, POLLIN, P_SRC, i, s, 0);
      for (a = 0; a < MAX_ATTACH; a++)
        if (st->att[a].fd >= 0) /* POLLERR tells a reader went away even when nothing is written */
          n = watch(n, st->att[a].fd, st->att[a].sent < st->pending_len ? POLLOUT : 0, P_ATT, i, s, a);
    }
  }
  return n;
}

/* Each event is checked against the record's current fd: an earlier event of this round may have changed it. */
static void handle_record_event(const struct poll_tag *t, const struct pollfd *p) {
  struct record *r = k_records[t->index];
  if (!r) return;
  if (t->kind == P_CHAN && r->state == R_STARTING && r->chan == p->fd) release_progress(r);
  else if (t->kind == P_SRC && r->out[t->stream].src == p->fd) {
    stream_read(r, t->stream);
    if (r->out[t->stream].done) maybe_free_exec(r);
  } else if (t->kind == P_ATT && r->out[t->stream].att[t->att].fd == p->fd)
    attacher_ready(r, t->stream, t->att, (p->revents & (POLLERR | POLLHUP)) != 0);
}

static void loop(void) {
  while (1) {
    int timeout, n = build_poll_set(&timeout), i, rc;
    u64 now;
    do rc = poll(k_pfd, (unsigned long)n, timeout); while (rc < 0 && errno == EINTR);
    if (rc < 0) { klog("poll", 0, errno); continue; }
    for (i = 0; i < n; i++)
      if (k_pfd[i].revents && k_ptag[i].kind >= P_CHAN) handle_record_event(&k_ptag[i], &k_pfd[i]);
    now = monotonic_ms();
    for (i = 0; i < MAX_RECORDS; i++)
      if (k_records[i] && k_records[i]->state == R_STARTING && now >= k_records[i]->deadline_ms) release_timeout(k_records[i]);
    if (k_pfd[0].revents) reap();
    for (i = 0; i < n; i++) if (k_pfd[i].revents && k_ptag[i].kind == P_CONN) conn_readable(k_ptag[i].index);
    for (i = 0; i < n; i++) if (k_pfd[i].revents && k_ptag[i].kind == P_LISTEN) conn_accept();
    if (k_draining && !count_records(0)) keeper_exit();
  }
}

/* Close every fd from 3 up but two (the report pipe and the lock): nothing of the daemon's survives. */
static void close_fds_except(int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  if (lo > 3) syscall(SYS_close_range, 3, lo - 1, 0);
  if (hi > lo + 1) syscall(SYS_close_range, lo + 1, hi - 1, 0);
  syscall(SYS_close_range, hi + 1, ~0u, 0);
}

static int keeper_main(void *arg) {
  u64 chld = 1ull << (SIGCHLD - 1);
  struct kernel_sigaction ignore;
  struct sockaddr_un addr;
  char pid[24];
  int fd;
  (void)arg;
  reset_signals();
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &chld, 0, 8); /* read through the signalfd */
  zero_bytes(&ignore, sizeof ignore);
  ignore.handler = (void *)1; /* SIG_IGN: a reader that went away is an EPIPE, not our death */
  syscall(SYS_rt_sigaction, SIGPIPE, &ignore, 0, 8);
  setsid();
  close_fds_except(k_report, k_lock);
  chdir("/");
  umask(022);
  fd = open("/dev/null", O_RDWR);
  if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0) die_at(KS_DEVNULL);
  if (fd > 2) close(fd);
  prctl(PR_SET_NAME, (unsigned long)"bunker-keeper", 0, 0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* a core or /proc/PID/mem reader gets nothing */
  fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) { write(fd, "-999", 4); close(fd); } /* refused without CAP_SYS_RESOURCE: not fatal */
  fd = open(state_path("keeper.log", 0), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || dup2(fd, 2) < 0) die_at(KS_LOG);
  if (fd > 2) close(fd);
  zero_bytes(&addr, sizeof addr);
  addr.family = AF_UNIX;
  if (str_len(state_path("keeper.sock", 0)) >= sizeof addr.path) { errno = 36 /* ENAMETOOLONG */; die_at(KS_BIND); }
  cat(addr.path, sizeof addr.path, k_scratch);
  k_listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (k_listen < 0) die_at(KS_SOCKET);
  unlink(addr.path); /* stale: its keeper is gone, we hold the lock */
  umask(0177);
  if (bind(k_listen, &addr, sizeof addr) < 0) die_at(KS_BIND);
  umask(022);
  if (listen(k_listen, 64) < 0) die_at(KS_LISTEN);
  k_sigfd = (int)syscall(SYS_signalfd4, -1, &chld, 8, O_CLOEXEC | O_NONBLOCK);
  if (k_sigfd < 0) die_at(KS_SIGNALFD);
  fmt_uint(pid, (u64)getpid());
  cat(pid, sizeof pid, "\n");
  if (write_file_atomic(state_path("keeper.pid", 0), pid, str_len(pid)) < 0) die_at(KS_PIDFILE);
  conns_init();
  k_started_ns = now_ns();
  /* This module may have launched containers in the daemon: that arena is the daemon's, not ours. */
  g_arena = 0;
  g_arena_size = 0;
  if (k_flags & START_SLIM) {
    int kept = slim();
    k_slimmed = kept > 0;
    klog("slim", kept > 0 ? "ranges" : "failed", kept);
  }
  if (map_buffers() < 0) die_at(KS_BUFFERS);
  klog("started", k_build, getpid());
  report(KS_OK, 0);
  close(k_report);
  k_report = -1;
  loop();
  return 0;
}

static int intermediate(void *arg) {
  (void)arg;
  if (clone(keeper_main, (void *)k_stack_hi, SIGCHLD, 0) < 0) report(KS_CLONE, errno);
  _exit(0);
  return 0;
}

/*
 * Start a keeper for state_dir. Returns its pid; or -1 with out = { pid, stage, errno, slimmed } telling why
 * (stage KS_LOCKED: another keeper holds the directory, connect to it). Blocks until the keeper listens
 * (about 1.5 ms; at most 10 s).
 */
int keeper_start(const char *state_dir, const char *build, int flags, int *out) {
  size_t size;
  u64 all = ~0ull, old = 0;
  struct start_report rep;
  struct pollfd p;
  int pipefd[2], middle, status;
  u8 *stacks;
  out[0] = -1; out[1] = KS_OK; out[2] = 0; out[3] = 0;
  k_page = (u64)getpagesize();
  size = 2 * k_page + KEEPER_STACK + MIDDLE_STACK;
  k_state[0] = 0; k_build[0] = 0;
  if (!cat(k_state, sizeof k_state - 32, state_dir)) { out[1] = KS_STATE_DIR; out[2] = 36; return -1; }
  cat(k_build, sizeof k_build, build);
  k_flags = flags;
  if (mkdirat(AT_FDCWD, k_state, 0700) < 0 && errno != EEXIST) { out[1] = KS_STATE_DIR; out[2] = errno; return -1; }
  /* The lock's open file is shared with the keeper through the fork: it holds the lock once we close ours. */
  k_lock = open(state_path("keeper.lock", 0), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (k_lock < 0) { out[1] = KS_LOCK; out[2] = errno; return -1; }
  if (flock(k_lock, LOCK_EX | LOCK_NB) < 0) {
    out[1] = errno == EAGAIN ? KS_LOCKED : KS_LOCK; out[2] = errno;
    close(k_lock);
    k_lock = -1;
    return -1;
  }
  /* [guard][keeper stack][guard][intermediate stack]: mapped here so that the children have them too */
  stacks = mmap(0, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stacks == (void *)-1 || mprotect(stacks + k_page, KEEPER_STACK, PROT_READ | PROT_WRITE) < 0 ||
      mprotect(stacks + 2 * k_page + KEEPER_STACK, MIDDLE_STACK, PROT_READ | PROT_WRITE) < 0) {
    out[1] = KS_STACK; out[2] = errno;
    if (stacks != (void *)-1) munmap(stacks, size);
    close(k_lock);
    k_lock = -1;
    return -1;
  }
  k_stack_lo = (u64)(stacks + k_page);
  k_stack_hi = k_stack_lo + KEEPER_STACK;
  if (pipe2(pipefd, O_CLOEXEC) < 0) {
    out[1] = KS_PIPE; out[2] = errno;
    munmap(stacks, size);
    close(k_lock);
    k_lock = -1;
    return -1;
  }
  k_report = pipefd[1];
  /* No daemon signal handler may run in the children before they reset them. */
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
  middle = clone(intermediate, stacks + size, SIGCHLD, 0);
  if (middle < 0) { out[1] = KS_CLONE; out[2] = errno; }
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, 0, 8);
  close(pipefd[1]);
  k_report = -1;
  close(k_lock); /* the keeper's copy holds the lock now (or nobody's does, if it failed) */
  k_lock = -1;
  if (middle > 0) while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
  munmap(stacks, size);
  if (middle > 0) {
    int rc;
    p.fd = pipefd[0]; p.events = POLLIN; p.revents = 0;
    do rc = poll(&p, 1, 10000); while (rc < 0 && errno == EINTR);
    if (rc > 0 && read(pipefd[0], &rep, sizeof rep) == sizeof rep) {
      out[0] = rep.pid; out[1] = rep.stage; out[2] = rep.err; out[3] = rep.slimmed;
    } else {
      out[1] = KS_TIMEOUT; out[2] = ETIMEDOUT;
    }
  }
  close(pipefd[0]);
  return out[1] == KS_OK ? out[0] : -1;
}

/* Lets the TypeScript side check the record layout it decodes. */
int keeper_abi(void) { return (int)(KEEPER_PROTO << 16 | (u32)sizeof(struct start_report)); }
