/*
 * Keeper part 4: one record per container or exec process (its own mmap), the output streams it reads
 * (pipes, or a pty master), the attach fan-out and reaping.
 *
 * Output goes to the log (containers) and to at most MAX_ATTACH attach pipes per stream. A default attacher
 * that cannot take a chunk at once is dropped (closed: its reader sees EOF); a lossless one makes the keeper
 * stop reading that stream until it has taken the chunk, so the container blocks on its own stdout as it
 * would with docker attached. A record's hot fields come first: a typical container touches one page of it.
 */

enum kind { KIND_CONTAINER = 1, KIND_EXEC };
enum rstate { R_CREATED = 1, R_STARTING, R_RUNNING, R_EXITED, R_FAILED };
static const char *const k_state_names[] = { "?", "created", "starting", "running", "exited", "failed" };
static const char *const k_stream_names[] = { "stdout", "stderr" };

struct attacher { int fd; int lossless; u32 sent; };
struct stream {
  int src;                      /* pipe read end or pty master; -1 before (a pty) or after */
  int done;                     /* end of file: no more output */
  u32 partial_len;              /* the log's unterminated line, in partial[] */
  u32 pending_len;              /* a chunk in pending[] that a lossless attacher has not fully taken */
  struct attacher att[MAX_ATTACH];
};
struct record {
  char id[ID_MAX], parent[ID_MAX];
  int kind, state, tty;
  int pid, pidfd, chan, stdin_fd;
  int status;
  u64 started_ns, finished_ns, deadline_ms;
  int timeout_ms;
  int owner; u32 owner_gen;     /* the connection that created it: it is aborted if that goes before release */
  int waiter; u32 waiter_gen;   /* the connection waiting for the release reply, and its tag */
  char waiter_tag[24];
  struct stream out[2];         /* stdout (or the pty), stderr */
  struct logfile log;
  char partial[2][CHUNK];
  char pending[2][CHUNK];
};

static struct record *k_records[MAX_RECORDS];

static void send_exit_event(struct record *r);
static void reply_release(struct record *r, int ok, struct error_record *err);

static int valid_id(const char *s) {
  size_t n = 0;
  if (*s == '.' || *s == '-') return 0;
  for (; s[n]; n++) {
    char c = s[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) return 0;
  }
  return n > 0 && n < ID_MAX - 8;
}

static struct record *find_record(const char *id) {
  int i;
  for (i = 0; i < MAX_RECORDS; i++) if (k_records[i] && str_eq(k_records[i]->id, id)) return k_records[i];
  return 0;
}

static int count_records(int state) {
  int i, n = 0;
  for (i = 0; i < MAX_RECORDS; i++) if (k_records[i] && (!state || k_records[i]->state == state)) n++;
  return n;
}

static size_t record_size(void) { return (size_t)page_up(sizeof(struct record)); }

static struct record *record_new(int kind, const char *id) {
  int i, s, a;
  struct record *r;
  for (i = 0; i < MAX_RECORDS && k_records[i]; i++) {}
  if (i == MAX_RECORDS) return 0;
  r = mmap(0, record_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == (void *)-1) return 0;
  r->kind = kind;
  cat(r->id, sizeof r->id, id);
  r->pid = r->pidfd = r->chan = r->stdin_fd = r->owner = r->waiter = r->log.fd = -1;
  for (s = 0; s < 2; s++) {
    r->out[s].src = -1;
    for (a = 0; a < MAX_ATTACH; a++) r->out[s].att[a].fd = -1;
  }
  k_records[i] = r;
  return r;
}

static void record_free(struct record *r) {
  int i, s, a;
  for (i = 0; i < MAX_RECORDS; i++) if (k_records[i] == r) k_records[i] = 0;
  close_if(r->pidfd); close_if(r->chan); close_if(r->stdin_fd);
  for (s = 0; s < 2; s++) {
    close_if(r->out[s].src);
    for (a = 0; a < MAX_ATTACH; a++) close_if(r->out[s].att[a].fd);
  }
  log_close(&r->log);
  munmap(r, record_size());
}

/* ---- output ---- */

static void drop_attacher(struct attacher *a) {
  close_if(a->fd);
  a->fd = -1;
}

static void close_attachers(struct stream *st) {
  int a;
  for (a = 0; a < MAX_ATTACH; a++) drop_attacher(&st->att[a]);
}

/* An exec record goes once it has exited and its output has been passed on. */
static void maybe_free_exec(struct record *r) {
  if (r->kind == KIND_EXEC && r->state == R_EXITED && r->out[0].done && r->out[1].done &&
      !r->out[0].pending_len && !r->out[1].pending_len)
    record_free(r);
}

static void fan_out(struct record *r, int s, const char *data, u32 n) {
  struct stream *st = &r->out[s];
  int a, stalled = 0;
  for (a = 0; a < MAX_ATTACH; a++) {
    struct attacher *at = &st->att[a];
    ssize_t w;
    if (at->fd < 0) continue;
    do w = write(at->fd, data, n); while (w < 0 && errno == EINTR);
    at->sent = n;
    if (w == (ssize_t)n) continue;
    if ((w < 0 && errno != EAGAIN) || !at->lossless) { drop_attacher(at); continue; }
    at->sent = w < 0 ? 0 : (u32)w;
    stalled = 1;
  }
  if (stalled) {
    copy_bytes(r->pending[s], data, n);
    st->pending_len = n;
  }
}

static void stream_eof(struct record *r, int s) {
  struct stream *st = &r->out[s];
  close_if(st->src);
  st->src = -1;
  st->done = 1;
  if (r->kind == KIND_CONTAINER) flush_partial(&r->log, k_stream_names[s], r->partial[s], &st->partial_len);
  if (!st->pending_len) close_attachers(st);
}

/* Read one chunk; returns 1 when data came, 0 otherwise (would block, or end of file handled). */
static int stream_read(struct record *r, int s) {
  struct stream *st = &r->out[s];
  ssize_t n;
  if (st->src < 0 || st->pending_len) return 0;
  do n = read(st->src, k_io, CHUNK); while (n < 0 && errno == EINTR);
  if (n < 0 && errno == EAGAIN) return 0;
  if (n <= 0) { stream_eof(r, s); return 0; } /* EOF, or EIO: a pty whose last slave fd closed */
  if (r->kind == KIND_CONTAINER) log_output(&r->log, k_stream_names[s], r->partial[s], &st->partial_len, k_io, (size_t)n);
  fan_out(r, s, k_io, (u32)n);
  return 1;
}

/* A lossless attacher can take more of the pending chunk (or it went away: POLLERR). */
static void attacher_ready(struct record *r, int s, int a, int error) {
  struct stream *st = &r->out[s];
  struct attacher *at = &st->att[a];
  int i;
  if (error) drop_attacher(at);
  else if (at->sent < st->pending_len) {
    ssize_t w;
    do w = write(at->fd, r->pending[s] + at->sent, st->pending_len - at->sent); while (w < 0 && errno == EINTR);
    if (w < 0 && errno != EAGAIN) drop_attacher(at);
    else if (w > 0) at->sent += (u32)w;
  }
  for (i = 0; i < MAX_ATTACH; i++) if (st->att[i].fd >= 0 && st->att[i].sent < st->pending_len) return;
  st->pending_len = 0;
  if (st->done) close_attachers(st);
  maybe_free_exec(r);
}

/* ---- start ---- */

static int pidfd_signal(struct record *r, int sig) {
  if (r->pidfd < 0) return -1;
  return (int)syscall(SYS_pidfd_send_signal, r->pidfd, sig, 0, 0);
}

/* The release conversation made progress (the channel was readable, or the child died). */
static void release_progress(struct record *r) {
  struct error_record err;
  int pty = r->out[0].src;
  int rc = release_step(r->pid, r->chan, 0, &pty, &err);
  if (r->tty) r->out[0].src = pty;
  if (rc > 0) return;
  close(r->chan);
  r->chan = -1;
  if (rc == 0) {
    r->state = R_RUNNING;
    r->started_ns = now_ns();
    reply_release(r, 1, 0);
    return;
  }
  if (r->tty) { close_if(r->out[0].src); r->out[0].src = -1; }
  kill(r->pid, SIGKILL);
  r->state = R_FAILED;
  reply_release(r, 0, &err);
}

static void release_timeout(struct record *r) {
  struct error_record err;
  set_error(&err, S_TIMEOUT, ETIMEDOUT, 0);
  kill(r->pid, SIGKILL);
  close(r->chan);
  r->chan = -1;
  r->state = R_FAILED;
  reply_release(r, 0, &err);
}

/* A created container whose creator went away before releasing it: it never runs. */
static void abort_created(struct record *r) {
  bk_abort(r->pid, r->chan);
  r->chan = -1;
  r->state = R_FAILED;
}

/* ---- exit ---- */

static void write_exit_file(struct record *r) {
  char body[96];
  size_t n = 0;
  int code = (r->status & 0x7f) ? 128 + (r->status & 0x7f) : (r->status >> 8) & 0xff;
  put_int(body, sizeof body, &n, code);
  put_str(body, sizeof body, &n, " ");
  put_int(body, sizeof body, &n, r->status);
  put_str(body, sizeof body, &n, " ");
  put_u64(body, sizeof body, &n, r->finished_ns);
  put_str(body, sizeof body, &n, "\n");
  if (write_file_atomic(state_path(r->id, ".exit"), body, n) < 0) klog("exit-file", r->id, errno);
}

static void exited(struct record *r, int status) {
  int s;
  r->state = R_EXITED;
  r->status = status;
  r->finished_ns = now_ns();
  close_if(r->pidfd); r->pidfd = -1;
  close_if(r->stdin_fd); r->stdin_fd = -1;
  /*
   * What the process wrote before it died is in the pipe: log it before anyone hears of the exit. Bounded,
   * because with --pid=host other processes may still hold the pipe and keep writing.
   */
  for (s = 0; s < 2; s++) {
    int chunks = 0;
    while (chunks++ < 64 && stream_read(r, s)) {}
  }
  if (r->kind == KIND_CONTAINER) write_exit_file(r);
  send_exit_event(r);
  maybe_free_exec(r);
}

static void reaped(int pid, int status) {
  int i;
  struct record *r = 0;
  for (i = 0; i < MAX_RECORDS && !r; i++)
    if (k_records[i] && k_records[i]->pid == pid && k_records[i]->state != R_EXITED) r = k_records[i];
  if (!r) return; /* an orphan reparented to us (we are a subreaper) */
  if (r->state == R_STARTING) while (r->state == R_STARTING) release_progress(r);
  if (r->state == R_RUNNING) exited(r, status);
  else record_free(r); /* created (aborted) or failed: never ran */
}

static void reap(void) {
  u8 info[128];
  while (read(k_sigfd, info, sizeof info) > 0) {}
  while (1) {
    int status = 0, pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    reaped(pid, status);
  }
}
