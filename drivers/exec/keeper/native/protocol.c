/*
 * Keeper part 5: the root-only SOCK_SEQPACKET protocol.
 *
 * A request is one message of NUL-separated fields: a tag the client chooses (echoed by the reply), the
 * operation, its arguments, and for run/exec the launch config blob (wire.ts) as the rest of the message.
 * A reply is one message, "<tag> ok …" or "<tag> err <code> <detail>" ("<tag> err launch " + the launcher's
 * raw error record), with fds attached (SCM_RIGHTS) where the operation hands some over. Connections that
 * subscribed also get events: "exit <id> <wait status> <finished ns>".
 *
 * Every connection has a doorbell: a pipe whose read end goes to the client with its first hello and to
 * which the keeper writes one byte after each message it sends there. The daemon waits on that pipe in its
 * event loop and reads the socket when it rings, so it never blocks waiting for the keeper.
 *
 * Operations are append-only; unknown ones answer "err unknown-op" so that a client can detect features.
 */

struct conn { int fd, bell, bell_r; u32 gen; int subscribed; };
static struct conn k_conns[MAX_CONNS];
static u32 k_gen;
static size_t k_reply_len;

struct request { int c; const char *tag; char *p, *end; };

static void shutdown_all(void);

static void conns_init(void) {
  int c;
  for (c = 0; c < MAX_CONNS; c++) k_conns[c].fd = k_conns[c].bell = k_conns[c].bell_r = -1;
}

static void conn_close(int c) {
  struct conn *k = &k_conns[c];
  int i;
  close_if(k->fd); close_if(k->bell); close_if(k->bell_r);
  k->fd = k->bell = k->bell_r = -1;
  k->subscribed = 0;
  for (i = 0; i < MAX_RECORDS; i++) {
    struct record *r = k_records[i];
    if (!r) continue;
    if (r->waiter == c && r->waiter_gen == k->gen) r->waiter = -1;
    if (r->owner == c && r->owner_gen == k->gen) {
      r->owner = -1;
      if (r->state == R_CREATED) abort_created(r);
    }
  }
}

static void conn_accept(void) {
  struct ucred cred;
  u32 len = sizeof cred;
  int c, bell[2], fd = accept4(k_listen, 0, 0, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (c = 0; c < MAX_CONNS && k_conns[c].fd >= 0; c++) {}
  if (c == MAX_CONNS || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0 ||
      pipe2(bell, O_CLOEXEC | O_NONBLOCK) < 0) {
    close(fd);
    return;
  }
  k_conns[c].fd = fd;
  k_conns[c].bell_r = bell[0];
  k_conns[c].bell = bell[1];
  k_conns[c].gen = ++k_gen;
  k_conns[c].subscribed = 0;
}

static void deliver(int c, const char *data, size_t len, const int *fds, int nfds) {
  char ring = 1;
  if (k_conns[c].fd < 0) return;
  if (send_message(k_conns[c].fd, data, len, fds, nfds) < 0) {
    klog("drop-client", 0, errno); /* it does not read its replies: it resyncs with list on reconnect */
    conn_close(c);
    return;
  }
  write(k_conns[c].bell, &ring, 1); /* EAGAIN: the bell is full, so it rings anyway */
}

static void reply_begin(const char *tag, const char *status) {
  k_reply_len = 0;
  put_str(k_reply, REPLY_MAX, &k_reply_len, tag);
  put_str(k_reply, REPLY_MAX, &k_reply_len, " ");
  put_str(k_reply, REPLY_MAX, &k_reply_len, status);
}
static void reply_str(const char *s) { put_str(k_reply, REPLY_MAX, &k_reply_len, s); }
static void reply_u64(u64 v) { put_u64(k_reply, REPLY_MAX, &k_reply_len, v); }
static void reply_int(long v) { put_int(k_reply, REPLY_MAX, &k_reply_len, v); }
static void reply_send(int c, const int *fds, int nfds) { deliver(c, k_reply, k_reply_len, fds, nfds); }

static void reply_ok(struct request *q) { reply_begin(q->tag, "ok"); reply_send(q->c, 0, 0); }
static void reply_err(struct request *q, const char *code, const char *detail) {
  reply_begin(q->tag, "err ");
  reply_str(code);
  if (detail) { reply_str(" "); reply_str(detail); }
  reply_send(q->c, 0, 0);
}
static void reply_errno(struct request *q, const char *code, int err) {
  reply_begin(q->tag, "err ");
  reply_str(code);
  reply_str(" ");
  reply_int(err);
  reply_send(q->c, 0, 0);
}
static void reply_launch_error(int c, const char *tag, const struct error_record *err) {
  reply_begin(tag, "err launch ");
  put_bytes(k_reply, REPLY_MAX, &k_reply_len, (const char *)err, sizeof *err);
  reply_send(c, 0, 0);
}

static void reply_release(struct record *r, int ok, struct error_record *err) {
  int c = r->waiter;
  r->waiter = -1;
  if (c < 0 || k_conns[c].fd < 0 || k_conns[c].gen != r->waiter_gen) return;
  if (!ok) { reply_launch_error(c, r->waiter_tag, err); return; }
  reply_begin(r->waiter_tag, "ok started");
  reply_send(c, 0, 0);
}

static void send_exit_event(struct record *r) {
  char msg[ID_MAX + 64];
  size_t n = 0;
  int c;
  put_str(msg, sizeof msg, &n, "exit ");
  put_str(msg, sizeof msg, &n, r->id);
  put_str(msg, sizeof msg, &n, " ");
  put_int(msg, sizeof msg, &n, r->status);
  put_str(msg, sizeof msg, &n, " ");
  put_u64(msg, sizeof msg, &n, r->finished_ns);
  for (c = 0; c < MAX_CONNS; c++) if (k_conns[c].fd >= 0 && k_conns[c].subscribed) deliver(c, msg, n, 0, 0);
}

/* The next NUL-terminated field, or 0 when the message has none left. */
static const char *field(struct request *q) {
  char *s = q->p;
  while (q->p < q->end && *q->p) q->p++;
  if (q->p >= q->end) return 0;
  q->p++;
  return s;
}

static struct record *record_arg(struct request *q) {
  const char *id = field(q);
  struct record *r = id ? find_record(id) : 0;
  if (!id) reply_err(q, "bad-request", "id");
  else if (!r) reply_err(q, "not-found", id);
  return r;
}

static int alive(const struct record *r) { return r->state == R_CREATED || r->state == R_STARTING || r->state == R_RUNNING; }

/* ---- operations ---- */

static void op_hello(struct request *q) {
  struct conn *k = &k_conns[q->c];
  reply_begin(q->tag, "ok bunker-keeper proto=");
  reply_u64(KEEPER_PROTO);
  reply_str(" minproto="); reply_u64(KEEPER_MINPROTO);
  reply_str(" pid="); reply_int(getpid());
  reply_str(" started="); reply_u64(k_started_ns);
  reply_str(" build="); reply_str(k_build);
  reply_str(" records="); reply_int(count_records(0));
  reply_str(" running="); reply_int(count_records(R_RUNNING));
  reply_str(" slim="); reply_int(k_slimmed);
  if (k->bell_r < 0) { reply_send(q->c, 0, 0); return; }
  reply_send(q->c, &k->bell_r, 1);
  close_if(k->bell_r); /* -1 already if the send failed and dropped the connection */
  k->bell_r = -1;
}

/* "ok <n>\n" then one line per record: id kind pid state status started_ns finished_ns parent|- */
static void op_list(struct request *q) {
  int i;
  reply_begin(q->tag, "ok ");
  reply_int(count_records(0));
  reply_str("\n");
  for (i = 0; i < MAX_RECORDS; i++) {
    struct record *r = k_records[i];
    if (!r) continue;
    reply_str(r->id);
    reply_str(r->kind == KIND_CONTAINER ? " container " : " exec ");
    reply_int(r->pid); reply_str(" ");
    reply_str(k_state_names[r->state]); reply_str(" ");
    reply_int(r->status); reply_str(" ");
    reply_u64(r->started_ns); reply_str(" ");
    reply_u64(r->finished_ns); reply_str(" ");
    reply_str(r->parent[0] ? r->parent : "-");
    reply_str("\n");
  }
  reply_send(q->c, 0, 0);
}

/* exec: the target is the keeper's own record, never a pid the daemon remembers. */
static void patch_target(u8 *blob, u32 len, const struct record *t) {
  u32 pos = 8;
  while (pos + 8 <= len) {
    u32 tag = rd32(blob + pos), l = rd32(blob + pos + 4), v;
    if (tag == T_TARGET_PID && l >= 4) { v = (u32)t->pid; copy_bytes(blob + pos + 8, &v, 4); }
    if (tag == T_TARGET_PIDFD && l >= 4) { v = (u32)t->pidfd; copy_bytes(blob + pos + 8, &v, 4); }
    pos += 8 + ((l + 7) & ~7u);
  }
}

/*
 * run:  id, log path ("" for none), log max size, log max files, setup timeout ms, blob
 * exec: container id, exec id, setup timeout ms, blob
 * Clones the process and answers "ok created <pid>"; it waits for release (the daemon wires its network
 * meanwhile), then joins the cgroups the blob names before any setup.
 */
static void op_create(struct request *q, int kind) {
  const char *parent = kind == KIND_EXEC ? field(q) : 0, *id = field(q);
  const char *log = kind == KIND_CONTAINER ? field(q) : "", *max_size = kind == KIND_CONTAINER ? field(q) : "0";
  const char *max_files = kind == KIND_CONTAINER ? field(q) : "1", *timeout = field(q);
  u8 *blob = (u8 *)q->p;
  u32 len = (u32)(q->end - q->p);
  u64 size, files, ms;
  struct record *r, *target = 0;
  struct error_record err;
  int out[OUT_COUNT];
  if ((kind == KIND_EXEC && !parent) || !id || !log || !max_size || !max_files || !timeout ||
      parse_u64(max_size, &size) < 0 || parse_u64(max_files, &files) < 0 || parse_u64(timeout, &ms) < 0 ||
      files > 1000 || ms > 3600000 || str_len(log) >= LOG_PATH_MAX || (*log && *log != '/')) {
    reply_err(q, "bad-request", 0);
    return;
  }
  if (!valid_id(id)) { reply_err(q, "bad-id", id); return; }
  if (find_record(id)) { reply_err(q, "exists", id); return; }
  if (k_draining) { reply_err(q, "draining", 0); return; }
  if (parent) {
    target = find_record(parent);
    if (!target || target->kind != KIND_CONTAINER || target->state != R_RUNNING) { reply_err(q, "not-running", parent); return; }
    if (!valid_blob(blob, len)) { reply_err(q, "bad-request", "config"); return; }
    patch_target(blob, len, target);
  }
  r = record_new(kind, id);
  if (!r) { reply_err(q, "full", 0); return; }
  if (parent) cat(r->parent, sizeof r->parent, parent);
  if (*log) {
    cat(r->log.path, sizeof r->log.path, log);
    r->log.max_size = size;
    r->log.max_files = files ? (u32)files : 1;
    if (log_open(&r->log) < 0) { int e = errno; record_free(r); reply_errno(q, "log-open", e); return; }
  }
  if (bk_spawn(blob, len, (int)ms, out, &err) < 0) {
    /* A child killed after clone (its pidfd or pipes failed) is reaped later: the record stays until then. */
    if (out[OUT_PID] > 0) { r->pid = out[OUT_PID]; r->pidfd = out[OUT_PIDFD]; r->state = R_FAILED; }
    else record_free(r);
    reply_launch_error(q->c, q->tag, &err);
    return;
  }
  r->pid = out[OUT_PID];
  r->pidfd = out[OUT_PIDFD];
  r->chan = out[OUT_CHANNEL];
  r->stdin_fd = out[OUT_STDIN];
  r->out[0].src = out[OUT_STDOUT];
  r->out[1].src = out[OUT_STDERR];
  r->tty = (g_options & OPT_TTY) != 0;
  if (r->tty) r->out[1].done = 1;
  r->timeout_ms = (int)ms;
  r->state = R_CREATED;
  r->owner = q->c;
  r->owner_gen = k_conns[q->c].gen;
  reply_begin(q->tag, "ok created ");
  reply_int(r->pid);
  reply_send(q->c, 0, 0);
}

/* release: id. The reply ("ok started" or the launch error) comes once the process exec'd or failed. */
static void op_release(struct request *q) {
  struct record *r = record_arg(q);
  struct error_record err;
  char go = MSG_GO;
  if (!r) return;
  if (r->state != R_CREATED) { reply_err(q, "bad-state", k_state_names[r->state]); return; }
  if (write(r->chan, &go, 1) != 1) {
    set_error(&err, S_SYNC, errno, 0);
    kill(r->pid, SIGKILL);
    close(r->chan);
    r->chan = -1;
    r->state = R_FAILED;
    reply_launch_error(q->c, q->tag, &err);
    return;
  }
  r->state = R_STARTING;
  r->deadline_ms = monotonic_ms() + (u64)(r->timeout_ms > 0 ? r->timeout_ms : 30000);
  r->waiter = q->c;
  r->waiter_gen = k_conns[q->c].gen;
  r->waiter_tag[0] = 0;
  cat(r->waiter_tag, sizeof r->waiter_tag, q->tag);
}

/* abort: id. A created process that must not run (the daemon's network setup failed). */
static void op_abort(struct request *q) {
  struct record *r = record_arg(q);
  if (!r) return;
  if (r->state != R_CREATED) { reply_err(q, "bad-state", k_state_names[r->state]); return; }
  abort_created(r);
  reply_ok(q);
}

/*
 * attach: id, mode ("" or "lossless"). Fresh pipes fed with live output from now on: stdout and stderr,
 * or the pty's output alone. A finished stream gives a pipe that is at end of file already.
 */
static void op_attach(struct request *q) {
  struct record *r = record_arg(q);
  const char *mode = r ? field(q) : 0;
  int fds[2] = { -1, -1 }, slots[2] = { -1, -1 }, n, s, a;
  if (!r) return;
  n = r->tty ? 1 : 2;
  for (s = 0; s < n; s++) {
    for (a = 0; a < MAX_ATTACH && r->out[s].att[a].fd >= 0; a++) {}
    if (a == MAX_ATTACH) { reply_err(q, "busy", "attachers"); return; }
    slots[s] = a;
  }
  for (s = 0; s < n; s++) {
    struct stream *st = &r->out[s];
    struct attacher *at = &st->att[slots[s]];
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
      int e = errno;
      for (s = 0; s < n; s++) close_if(fds[s]);
      reply_errno(q, "pipe", e);
      return;
    }
    fds[s] = p[0];
    at->lossless = mode && str_eq(mode, "lossless");
    if (!at->lossless) fcntl(p[1], F_SETPIPE_SZ, ATTACH_PIPE_SIZE);
    if (st->done && !st->pending_len) { close(p[1]); continue; }
    at->fd = p[1];
    at->sent = st->pending_len;
  }
  reply_begin(q->tag, "ok ");
  reply_int(n);
  reply_send(q->c, fds, n);
  for (s = 0; s < n; s++) close(fds[s]);
}

/* stdin: id. A dup of the stdin pipe's write end, or of the pty master. */
static void op_stdin(struct request *q) {
  struct record *r = record_arg(q);
  int src, fd;
  if (!r) return;
  src = r->tty && r->state != R_EXITED ? r->out[0].src : r->stdin_fd;
  if (src < 0) { reply_err(q, "no-stdin", r->id); return; }
  fd = fcntl(src, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) { reply_errno(q, "dup", errno); return; }
  reply_begin(q->tag, "ok");
  reply_send(q->c, &fd, 1);
  close(fd);
}

/* closestdin: id. The keeper's end goes; the process sees end of file once the daemon's dups are closed. */
static void op_closestdin(struct request *q) {
  struct record *r = record_arg(q);
  if (!r) return;
  close_if(r->stdin_fd);
  r->stdin_fd = -1;
  reply_ok(q);
}

/* resize: id, rows, cols. */
static void op_resize(struct request *q) {
  struct record *r = record_arg(q);
  const char *rows = r ? field(q) : 0, *cols = r ? field(q) : 0;
  u64 h, w;
  struct winsize ws;
  if (!r) return;
  if (!rows || !cols || parse_u64(rows, &h) < 0 || parse_u64(cols, &w) < 0 || h > 0xffff || w > 0xffff) { reply_err(q, "bad-request", 0); return; }
  if (!r->tty || r->out[0].src < 0) { reply_err(q, "no-tty", r->id); return; }
  zero_bytes(&ws, sizeof ws);
  ws.rows = (u16)h; ws.cols = (u16)w;
  if (ioctl(r->out[0].src, TIOCSWINSZ, &ws) < 0) { reply_errno(q, "resize", errno); return; }
  reply_ok(q);
}

/* kill: id, signal. Through the pidfd: the keeper alone knows the pid was not reaped and recycled. */
static void op_kill(struct request *q) {
  struct record *r = record_arg(q);
  const char *sig = r ? field(q) : 0;
  u64 n;
  if (!r) return;
  if (!sig || parse_u64(sig, &n) < 0 || n > 64) { reply_err(q, "bad-request", 0); return; }
  if (!alive(r)) { reply_err(q, "not-running", r->id); return; }
  if (pidfd_signal(r, (int)n) < 0 && errno != ESRCH) { reply_errno(q, "kill", errno); return; }
  reply_ok(q);
}

/* rm: id. Forget an exited container (and its exit file). */
static void op_rm(struct request *q) {
  struct record *r = record_arg(q);
  if (!r) return;
  if (r->state != R_EXITED) { reply_err(q, "bad-state", k_state_names[r->state]); return; }
  if (r->kind == KIND_CONTAINER) unlink(state_path(r->id, ".exit"));
  record_free(r);
  reply_ok(q);
}

static void handle_request(int c, size_t len) {
  struct request q;
  const char *op;
  q.c = c;
  q.p = k_req;
  q.end = k_req + len;
  q.tag = field(&q);
  op = field(&q);
  if (!q.tag || str_len(q.tag) >= 24) return; /* nothing to answer to */
  if (!op) { reply_err(&q, "bad-request", 0); return; }
  if (str_eq(op, "hello")) op_hello(&q);
  else if (str_eq(op, "list")) op_list(&q);
  else if (str_eq(op, "run")) op_create(&q, KIND_CONTAINER);
  else if (str_eq(op, "exec")) op_create(&q, KIND_EXEC);
  else if (str_eq(op, "release")) op_release(&q);
  else if (str_eq(op, "abort")) op_abort(&q);
  else if (str_eq(op, "attach")) op_attach(&q);
  else if (str_eq(op, "stdin")) op_stdin(&q);
  else if (str_eq(op, "closestdin")) op_closestdin(&q);
  else if (str_eq(op, "resize")) op_resize(&q);
  else if (str_eq(op, "kill")) op_kill(&q);
  else if (str_eq(op, "rm")) op_rm(&q);
  else if (str_eq(op, "subscribe")) { k_conns[c].subscribed = 1; reply_ok(&q); }
  else if (str_eq(op, "drain")) { k_draining = 1; reply_ok(&q); }
  else if (str_eq(op, "shutdown")) { reply_ok(&q); shutdown_all(); }
  else reply_err(&q, "unknown-op", op);
}

static void conn_readable(int c) {
  int i;
  for (i = 0; i < 8 && k_conns[c].fd >= 0; i++) {
    struct msghdr msg;
    struct iovec iov;
    union { struct cmsghdr h; u8 buf[sizeof(struct cmsghdr) + 8 * sizeof(int)]; } control;
    ssize_t n;
    zero_bytes(&msg, sizeof msg);
    iov.base = k_req; iov.len = REQ_MAX - 1;
    msg.iov = &iov; msg.iovlen = 1;
    msg.control = control.buf; msg.controllen = sizeof control.buf;
    do n = recvmsg(k_conns[c].fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { conn_close(c); return; }
    if (msg.controllen >= sizeof(struct cmsghdr) && control.h.level == SOL_SOCKET && control.h.type == SCM_RIGHTS) {
      /* nothing takes fds from a client: do not keep them */
      size_t k, nfds = (control.h.len - sizeof(struct cmsghdr)) / sizeof(int);
      for (k = 0; k < nfds && k < 8; k++) { int fd; copy_bytes(&fd, control.buf + sizeof(struct cmsghdr) + k * sizeof(int), sizeof fd); close(fd); }
    }
    k_req[n] = 0;
    if (msg.flags & MSG_TRUNC) {
      struct request q;
      q.c = c; q.p = k_req; q.end = k_req + n; q.tag = field(&q);
      if (q.tag && str_len(q.tag) < 24) reply_err(&q, "too-large", 0);
      continue;
    }
    handle_request(c, (size_t)n);
  }
}
