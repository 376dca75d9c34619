/* Launcher part 3: the process itself (signals, stdio, fds, cwd, executable, credentials), for start and exec. */

/* ---- signals: Bun ignores SIGPIPE and a keeper blocks SIGCHLD; neither may leak into a container ---- */
static void reset_signals(void) {
  struct kernel_sigaction dfl;
  u64 empty = 0;
  int sig;
  zero_bytes(&dfl, sizeof dfl);
  for (sig = 1; sig <= 64; sig++) {
    if (sig == 9 || sig == 19) continue; /* SIGKILL, SIGSTOP cannot change */
    syscall(SYS_rt_sigaction, sig, &dfl, 0, 8);
  }
  syscall(SYS_rt_sigprocmask, 2 /* SIG_SETMASK */, &empty, 0, 8);
}

/*
 * The parent's OOM score must not leak either: a keeper runs at -999 so that the OOM killer spares it, and
 * its containers would inherit that. Raising the score needs no privilege; a missing /proc is not fatal.
 */
static void reset_oom_score(void) {
  int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  write(fd, "0", 1);
  close(fd);
}

/*
 * Child: die with the parent while setting up (cleared right before execve). A parent that died before
 * this point closed its end of the channel, which wait_for_go sees as end-of-file.
 */
static void die_with_parent(void) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

static void wait_for_go(void) {
  char c = 0;
  ssize_t n;
  do n = read(g_chan, &c, 1); while (n < 0 && errno == EINTR);
  if (n != 1 || c != MSG_GO) _exit(1); /* the parent gave up on us */
}

static int send_fd(int chan, int fd) {
  struct msghdr msg;
  struct iovec iov;
  union { struct cmsghdr h; u8 buf[24]; } control;
  char kind = MSG_PTY;
  zero_bytes(&msg, sizeof msg);
  zero_bytes(&control, sizeof control);
  iov.base = &kind; iov.len = 1;
  msg.iov = &iov; msg.iovlen = 1;
  msg.control = control.buf; msg.controllen = sizeof control.buf;
  control.h.len = sizeof(struct cmsghdr) + sizeof(int);
  control.h.level = SOL_SOCKET; control.h.type = SCM_RIGHTS;
  copy_bytes(control.buf + sizeof(struct cmsghdr), &fd, sizeof fd);
  return sendmsg(chan, &msg, 0) < 0 ? -1 : 0;
}

/*
 * A pty from the container's own devpts instance (so `tty` prints /dev/pts/0): the master goes to the
 * parent over the channel, the slave becomes the controlling terminal and fds 0-2.
 */
static int open_pty(int bind_console) {
  char fdbuf[32], name[32];
  u32 unlock = 0, n = 0;
  const u8 *ws = first_rec(T_WINSIZE, 0);
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), slave;
  if (master < 0) fail(S_PTY, "/dev/ptmx");
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0) fail(S_PTY, "/dev/ptmx");
  slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) fail(S_PTY, "TIOCGPTPEER");
  if (ws) {
    struct winsize w;
    zero_bytes(&w, sizeof w);
    copy_bytes(&w.rows, ws, 2); copy_bytes(&w.cols, ws + 2, 2);
    ioctl(slave, TIOCSWINSZ, &w);
  }
  if (bind_console) {
    name[0] = 0; cat(name, sizeof name, "/dev/pts/"); fmt_uint(name + str_len(name), n);
    if (mount(fd_path(slave, fdbuf), "/dev/console", 0, MS_BIND, 0) < 0) fail(S_PTY, "/dev/console");
  }
  if (send_fd(g_chan, master) < 0) fail(S_PTY, "send master");
  close(master);
  return slave;
}

/* fd is above 2 here, so dup2 always makes a new fd, without CLOEXEC. */
static void dup_onto(int fd, int target) {
  if (dup2(fd, target) < 0) fail(S_STDIO, 0);
}

/* stdio: the pty slave, or the pipe ends inherited from the parent (stdin from /dev/null when not open). */
static void setup_stdio(int in_fd, int out_fd, int err_fd, int bind_console) {
  if (setsid() < 0) fail(S_STDIO, "setsid");
  if (g_options & OPT_TTY) {
    int slave = open_pty(bind_console);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) fail(S_PTY, "TIOCSCTTY");
    in_fd = out_fd = err_fd = fcntl(slave, F_DUPFD_CLOEXEC, 3);
    if (in_fd < 0) fail(S_STDIO, 0);
    close(slave);
  } else {
    if (in_fd < 0) in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* Move everything above 2 first so that the dup2 calls below cannot clobber each other. */
    in_fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
    out_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
    err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 3);
    if (in_fd < 0 || out_fd < 0 || err_fd < 0) fail(S_STDIO, 0);
  }
  dup_onto(in_fd, 0); dup_onto(out_fd, 1); dup_onto(err_fd, 2);
}

/*
 * Close every fd but 0-2 and the channel for real (not just CLOEXEC): an inherited directory fd would
 * otherwise still be reachable through /proc/self/fd until execve (CVE-2024-21626).
 */
static void close_other_fds(void) {
  if ((g_chan > 3 && syscall(SYS_close_range, 3, g_chan - 1, 0) < 0) || syscall(SYS_close_range, g_chan + 1, ~0u, 0) < 0) {
    int fd;
    if (errno != ENOSYS) fail(S_CLOSE_FDS, 0);
    for (fd = 3; fd < 65536; fd++) if (fd != g_chan) close(fd);
  }
}

static void set_rlimits(void) {
  u32 pos = 8, len;
  const u8 *p;
  while ((p = next_rec(T_RLIMIT, &pos, &len))) {
    u64 limits[2];
    limits[0] = rd64(p + 8); limits[1] = rd64(p + 16);
    if (syscall(SYS_prlimit64, 0, rd32(p), limits, 0) < 0) {
      char num[24];
      fmt_uint(num, rd32(p));
      fail(S_RLIMIT, num);
    }
  }
}

static void enter_cwd(void) {
  static char check[4096];
  if (g_options & OPT_MAKE_CWD) {
    /* Like docker: a missing working directory is created (as root, before the user switch). */
    g_rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (g_rootfd < 0) fail(S_CWD, g_cwd);
    {
      int fd = resolve_in_root(g_cwd, MAKE_DIR);
      if (fd < 0) fail(S_CWD, g_cwd);
      close(fd);
    }
    close(g_rootfd);
    g_rootfd = -1;
  }
  if (chdir(g_cwd) < 0) fail(S_CWD, g_cwd);
  /* A cwd outside our root shows up as "(unreachable)..." instead of an absolute path. */
  if (!getcwd(check, sizeof check) || check[0] != '/') fail_errno(S_CWD, ENOENT, g_cwd);
}

/* Go's exec.LookPath: a name with a slash is used as is; otherwise the first executable file in PATH. */
static void lookup_executable(void) {
  const char *name = g_argv[0], *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char **env;
  u32 mode;
  for (env = g_envp; *env; env++) if (has_prefix(*env, "PATH=")) path = *env + 5;
  if (!*name) fail_errno(S_LOOKUP, ENOENT, name);
  {
    const char *s;
    for (s = name; *s && *s != '/'; s++) {}
    if (*s == '/') {
      if (statx_mode(AT_FDCWD, name, 0, &mode) < 0) fail(S_LOOKUP, name);
      if ((mode & S_IFMT) == S_IFDIR) fail_errno(S_LOOKUP, EISDIR, name);
      if (!(mode & 0111)) fail_errno(S_LOOKUP, EACCES, name);
      g_exe[0] = 0; cat(g_exe, sizeof g_exe, name);
      return;
    }
  }
  while (1) {
    const char *end = path;
    size_t n;
    while (*end && *end != ':') end++;
    n = (size_t)(end - path);
    g_exe[0] = 0;
    if (n == 0) cat(g_exe, sizeof g_exe, ".");
    else if (n < sizeof g_exe) { copy_bytes(g_exe, path, n); g_exe[n] = 0; }
    if (cat(g_exe, sizeof g_exe, "/") && cat(g_exe, sizeof g_exe, name) &&
        statx_mode(AT_FDCWD, g_exe, 0, &mode) == 0 && (mode & S_IFMT) != S_IFDIR && (mode & 0111))
      return;
    if (!*end) break;
    path = end + 1;
  }
  fail_errno(S_LOOKUP, ENOENT, name);
}

static void install_seccomp(void) {
  u32 len;
  const u8 *prog = first_rec(T_SECCOMP, &len);
  struct sock_fprog fprog;
  if (!prog) return;
  fprog.len = (u16)(len / 8);
  fprog.filter = (void *)prog;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (unsigned long)&fprog, 0, 0) < 0) fail(S_SECCOMP, 0);
}

static int capset_all(u64 effective, u64 permitted, u64 inheritable) {
  struct cap_header h;
  struct cap_data d[2];
  h.version = LINUX_CAPABILITY_VERSION_3; h.pid = 0;
  d[0].effective = (u32)effective; d[1].effective = (u32)(effective >> 32);
  d[0].permitted = (u32)permitted; d[1].permitted = (u32)(permitted >> 32);
  d[0].inheritable = (u32)inheritable; d[1].inheritable = (u32)(inheritable >> 32);
  return (int)syscall(SYS_capset, &h, d);
}
static u64 current_permitted(void) {
  struct cap_header h;
  struct cap_data d[2];
  h.version = LINUX_CAPABILITY_VERSION_3; h.pid = 0;
  if (syscall(SYS_capget, &h, d) < 0) fail(S_CAPS, "capget");
  return (u64)d[0].permitted | ((u64)d[1].permitted << 32);
}

/*
 * User, capabilities, no_new_privs and seccomp, in the only order that works: the bounding set shrinks
 * while CAP_SETPCAP is still held; KEEPCAPS carries the permitted set across setuid; without no_new_privs,
 * loading a filter needs CAP_SYS_ADMIN, so it goes in before the final capset; with no_new_privs it goes
 * in last, right before execve. Requested sets are cut to what this process holds (a daemon whose bounding
 * set lacks a capability can grant only the rest, which is what --privileged means here).
 */
static void drop_privileges(void) {
  const u8 *caps = first_rec(T_CAPS, 0), *user = first_rec(T_USER, 0), *groups;
  u32 glen;
  u64 held = current_permitted(), effective = held, permitted = held, inheritable = 0, bounding = ~0ull;
  int cap;
  if (caps) {
    effective = rd64(caps) & held; permitted = rd64(caps + 8) & held;
    inheritable = rd64(caps + 16) & held; bounding = rd64(caps + 24);
  }
  for (cap = 0; cap < 64; cap++) {
    int in_set = prctl(PR_CAPBSET_READ, (unsigned long)cap, 0, 0, 0);
    if (in_set < 0) break; /* past the last capability the kernel knows */
    if (in_set && !((bounding >> cap) & 1) && prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0) fail(S_CAPS, "bounding set");
  }
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail(S_CAPS, "keepcaps");
  if ((groups = first_rec(T_GROUPS, &glen)) && syscall(SYS_setgroups, rd32(groups), groups + 4) < 0) fail(S_GROUPS, 0);
  if (user) {
    u32 uid = rd32(user), gid = rd32(user + 4);
    if (syscall(SYS_setresgid, gid, gid, gid) < 0) fail(S_SETGID, 0);
    if (syscall(SYS_setresuid, uid, uid, uid) < 0) fail(S_SETUID, 0);
  }
  if (!(g_options & OPT_NO_NEW_PRIVS)) {
    /* setuid cleared the effective set: raise it again for the privileged seccomp load. */
    if (capset_all(held, held, 0) < 0) fail(S_CAPS, "capset");
    install_seccomp();
  }
  if (capset_all(effective, permitted, inheritable) < 0) fail(S_CAPS, "capset");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail(S_CAPS, "keepcaps");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(S_CAPS, "ambient");
  if (g_options & OPT_NO_NEW_PRIVS) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(S_NO_NEW_PRIVS, 0);
    install_seccomp();
  }
}

static void exec_process(void) {
  umask(022);
  prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
  execve(g_exe, g_argv, g_envp);
  fail(S_EXEC, g_exe);
}

/* Steps after namespaces and mounts, common to a container's init and an exec'd process. */
static void finish_process(int in_fd, int out_fd, int err_fd, int bind_console) {
  setup_stdio(in_fd, out_fd, err_fd, bind_console);
  close_other_fds();
  set_rlimits();
  enter_cwd();
  lookup_executable();
  drop_privileges();
  exec_process();
}
