/* Launcher part 4: the two child entry points and the parent side (the exported bk_* functions). */

/*
 * Move this process into the container's cgroups, one write of "0" (the writer) per file the config names:
 * v1 `tasks`, v2 `cgroup.procs`. The process is still single-threaded, so moving its thread moves all of it;
 * and a thread that moves itself through v1 `tasks` spares the kernel's global threadgroup lock, whose write
 * side waits for an RCU grace period (5-15 ms measured here) that a write of another pid pays on every start.
 * Runs before any setup, while the host's /sys/fs/cgroup is still in view.
 */
static void join_own_cgroups(void) {
  u32 pos = 8, len;
  const char *path;
  while ((path = (const char *)next_rec(T_CGROUP_JOIN, &pos, &len))) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) < 0) fail(S_CGROUP, path);
    close(fd);
  }
}

/* The container's first process, after clone(NEWPID|NEWNS|...): build the root, then become the process. */
static void container_child(int in_fd, int out_fd, int err_fd) {
  wait_for_go();
  join_own_cgroups();
  join_namespaces();
  /* Created only now, inside the container's cgroup, which becomes the namespace's root. */
  if ((g_options & OPT_NEW_CGROUPNS) && unshare(CLONE_NEWCGROUP) < 0) fail(S_UNSHARE, "cgroup");
  umask(0);
  if (mount(0, "/", 0, MS_REC | MS_PRIVATE, 0) < 0) fail(S_ROOTFS, "/");
  if (mount(g_rootfs, g_rootfs, 0, MS_BIND | MS_REC, 0) < 0) fail(S_ROOTFS, g_rootfs);
  g_rootfd = open(g_rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_rootfd < 0) fail(S_ROOTFS, g_rootfs);
  mount_in_root("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0);
  setup_dev();
  setup_sys();
  user_mounts();
  pivot_into_rootfs();
  write_sysctls();
  mask_paths();
  readonly_paths();
  set_names();
  if (g_options & OPT_READONLY_ROOT) {
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || set_mount_attrs(fd, MOUNT_ATTR_RDONLY, 0) < 0) fail(S_MOUNT, "/ (read-only)");
    close(fd);
  }
  finish_process(in_fd, out_fd, err_fd, 1);
}

/*
 * `docker exec`: join the container's cgroups (the process forked below inherits them), enter the target's
 * namespaces, then fork once more so the process is inside its pid ns.
 */
static void exec_intermediate(int in_fd, int out_fd, int err_fd) {
  static const struct { const char *name; int type; } kinds[] = {
    { "cgroup", CLONE_NEWCGROUP }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
    { "net", CLONE_NEWNET }, { "pid", CLONE_NEWPID }, { "mnt", CLONE_NEWNS },
  };
  int fds[6], i, pid;
  char mine[64], theirs[64];
  join_own_cgroups();
  for (i = 0; i < 6; i++) {
    ssize_t a, b;
    g_path[0] = 0; cat(g_path, sizeof g_path, "/proc/self/ns/"); cat(g_path, sizeof g_path, kinds[i].name);
    a = readlink(g_path, mine, sizeof mine);
    g_path[0] = 0; cat(g_path, sizeof g_path, "/proc/");
    fmt_uint(g_path + str_len(g_path), g_target_pid);
    cat(g_path, sizeof g_path, "/ns/"); cat(g_path, sizeof g_path, kinds[i].name);
    b = readlink(g_path, theirs, sizeof theirs);
    fds[i] = -1;
    if (b < 0) fail(S_NS_OPEN, g_path);
    if (a == b && a > 0) { mine[a] = theirs[b] = 0; if (str_eq(mine, theirs)) continue; }
    fds[i] = open(g_path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) fail(S_NS_OPEN, g_path);
  }
  /*
   * The namespaces were opened by pid: make sure that pid still was the target (alive, so not recycled),
   * using the target's pidfd inherited from the parent.
   */
  if (g_target_pidfd >= 0 && syscall(SYS_pidfd_send_signal, g_target_pidfd, 0, 0, 0) < 0) fail(S_NS_OPEN, "target process");
  for (i = 0; i < 6; i++)
    if (fds[i] >= 0) {
      if (setns(fds[i], kinds[i].type) < 0) fail(S_JOIN_NS, kinds[i].name);
      close(fds[i]);
    }
  /* CLONE_PARENT: the process becomes the daemon's child directly, so its exit can be watched by pidfd. */
  pid = (int)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail(S_CLONE, "exec");
  if (pid == 0) {
    die_with_parent();
    wait_for_go();
    finish_process(in_fd, out_fd, err_fd, 0);
  }
  {
    struct pid_record rec;
    rec.kind = MSG_PID; rec.pid = pid;
    write(g_chan, &rec, sizeof rec);
  }
  _exit(0);
}

/* ---- parent side (the daemon today, the keeper later) ---- */

static void close_if(int fd) { if (fd >= 0) close(fd); }
static int set_nonblock(int fd) { int fl = fcntl(fd, F_GETFL); return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK); }

/* Wait up to timeout_ms for one message on the channel; returns its length, 0 at EOF, -1 on error/timeout. */
static ssize_t recv_message(int chan, int timeout_ms, u8 *buf, size_t cap, int *passed_fd) {
  struct pollfd p;
  struct msghdr msg;
  struct iovec iov;
  union { struct cmsghdr h; u8 buf[24]; } control;
  ssize_t n;
  int rc;
  p.fd = chan; p.events = POLLIN; p.revents = 0;
  do rc = poll(&p, 1, timeout_ms); while (rc < 0 && errno == EINTR);
  if (rc == 0) { errno = ETIMEDOUT; return -1; }
  if (rc < 0) return -1;
  zero_bytes(&msg, sizeof msg);
  zero_bytes(&control, sizeof control);
  iov.base = buf; iov.len = cap;
  msg.iov = &iov; msg.iovlen = 1;
  msg.control = control.buf; msg.controllen = sizeof control.buf;
  do n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
  if (n > 0 && msg.controllen >= sizeof(struct cmsghdr) + sizeof(int) && control.h.level == SOL_SOCKET &&
      control.h.type == SCM_RIGHTS && passed_fd)
    copy_bytes(passed_fd, control.buf + sizeof(struct cmsghdr), sizeof(int));
  return n;
}

/*
 * Create the process: parse the config, make the channel and stdio, clone, and (for exec) wait for the
 * intermediate to report the final pid, up to timeout_ms. The child then waits for bk_release. Returns 0 and fills out[]
 * (pid, pidfd, channel, stdin/stdout/stderr parent ends or -1), or -1 and fills err.
 */
int bk_spawn(const u8 *blob, u32 blob_len, int timeout_ms, int *out, struct error_record *err) {
  int chan[2] = { -1, -1 }, in[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
  int pidfd = -1, pid, i;
  int tty;
  for (i = 0; i < OUT_COUNT; i++) out[i] = -1;
  if (prepare(blob, blob_len) < 0) { set_error(err, S_CONFIG, EINVAL, "launch config"); return -1; }
  tty = (g_options & OPT_TTY) != 0;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0 ||
      (!tty && (g_options & OPT_STDIN) && pipe2(in, O_CLOEXEC) < 0) ||
      (!tty && (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0))) {
    set_error(err, S_CHANNEL, errno, 0);
    goto fail;
  }
  pid = (int)syscall(SYS_clone, (g_target_pid ? 0 : g_clone_flags) | CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
  if (pid < 0) { set_error(err, S_CLONE, errno, 0); goto fail; }
  if (pid == 0) {
    /*
     * Not dumpable until execve: no other process (an exec'd child is visible inside the container's pid
     * namespace) may open our /proc/PID/exe or mem, which are still the daemon's (CVE-2019-5736).
     */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    reset_signals();
    reset_oom_score();
    g_chan = chan[1] < 3 ? fcntl(chan[1], F_DUPFD_CLOEXEC, 3) : chan[1];
    close(chan[0]); close_if(in[1]); close_if(outp[0]); close_if(errp[0]);
    die_with_parent();
    if (g_target_pid) exec_intermediate(in[0], outp[1], errp[1]);
    else container_child(in[0], outp[1], errp[1]);
    _exit(1); /* not reached */
  }
  close(chan[1]); chan[1] = -1;
  close_if(in[0]); close_if(outp[1]); close_if(errp[1]);
  in[0] = outp[1] = errp[1] = -1;
  if (g_target_pid) {
    /* The intermediate reports the final pid (or an error) and exits; reap it here. */
    struct error_record rec;
    int status;
    ssize_t n = recv_message(chan[0], timeout_ms, (u8 *)&rec, sizeof rec, 0);
    if (n < 0) kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    close(pidfd); pidfd = -1;
    if (n >= (ssize_t)(3 * sizeof(u32)) && rec.kind == MSG_ERROR) { copy_bytes(err, &rec, sizeof rec); goto fail; }
    if (n != sizeof(struct pid_record) || rec.kind != MSG_PID) {
      set_error(err, n < 0 && errno == ETIMEDOUT ? S_TIMEOUT : S_CLONE, n < 0 ? errno : EINVAL, "exec");
      goto fail;
    }
    pid = ((struct pid_record *)&rec)->pid;
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) { set_error(err, S_PIDFD, errno, 0); kill(pid, SIGKILL); goto fail_reaped_later; }
  }
  if ((in[1] >= 0 && set_nonblock(in[1]) < 0) || (outp[0] >= 0 && set_nonblock(outp[0]) < 0) ||
      (errp[0] >= 0 && set_nonblock(errp[0]) < 0)) {
    set_error(err, S_CHANNEL, errno, 0);
    kill(pid, SIGKILL);
    goto fail_reaped_later;
  }
  out[OUT_PID] = pid; out[OUT_PIDFD] = pidfd; out[OUT_CHANNEL] = chan[0];
  out[OUT_STDIN] = in[1]; out[OUT_STDOUT] = outp[0]; out[OUT_STDERR] = errp[0];
  return 0;

fail_reaped_later:
  /* The killed child is still ours to reap: hand back pid and pidfd so the caller's exit watcher does it. */
  out[OUT_PID] = pid; out[OUT_PIDFD] = pidfd;
  pidfd = -1;
fail:
  for (i = 0; i < 2; i++) { close_if(chan[i]); close_if(in[i]); close_if(outp[i]); close_if(errp[i]); }
  close_if(pidfd);
  return -1;
}

/*
 * One message of the release conversation (the child was sent MSG_GO): 1 when more may follow (a pty
 * master arrived: stored in *pty_master, non-blocking, CLOEXEC), 0 when the child exec'd (end-of-file), -1
 * when it failed (err filled; on a timeout the child is killed). The keeper calls this when the channel
 * is readable, with timeout_ms 0, so that a slow container setup never stalls its loop.
 */
static int release_step(int pid, int chan, int timeout_ms, int *pty_master, struct error_record *err) {
  struct error_record rec;
  int fd = -1;
  ssize_t n = recv_message(chan, timeout_ms, (u8 *)&rec, sizeof rec, &fd);
  if (n == 0) return 0;
  if (n < 0) {
    set_error(err, errno == ETIMEDOUT ? S_TIMEOUT : S_SYNC, errno, 0);
    kill(pid, SIGKILL);
    return -1;
  }
  if (fd >= 0) {
    if (*pty_master >= 0) close(*pty_master);
    *pty_master = fd;
    set_nonblock(fd);
    return 1;
  }
  if (n >= (ssize_t)(3 * sizeof(u32)) && rec.kind == MSG_ERROR) { copy_bytes(err, &rec, sizeof rec); return -1; }
  return 1;
}

/*
 * Let the child go and wait until it has exec'd (channel EOF) or failed (an error record). A pty master,
 * when the child made one, arrives first and is stored in *pty_master (non-blocking, CLOEXEC). Always
 * closes the channel. Returns 0 on success; -1 with err filled otherwise (the child is killed on timeout).
 */
int bk_release(int pid, int chan, int timeout_ms, int *pty_master, struct error_record *err) {
  char go = MSG_GO;
  int result = -1;
  *pty_master = -1;
  if (write(chan, &go, 1) != 1) set_error(err, S_SYNC, errno, 0);
  else while ((result = release_step(pid, chan, timeout_ms, pty_master, err)) > 0) {}
  if (result < 0 && *pty_master >= 0) { close(*pty_master); *pty_master = -1; }
  close(chan);
  return result;
}

/* Abandon a created-but-not-released child (a hook failed): it dies; the caller's watcher reaps it. */
void bk_abort(int pid, int chan) {
  kill(pid, SIGKILL);
  close(chan);
}

/* Lets the TypeScript side check it was built against the same wire format and record layout. */
int bk_abi(void) { return (int)(BLOB_MAGIC ^ (u32)sizeof(struct error_record)); }
