/*
 * Keeper part 3: docker's json-file log, written by the keeper itself so that logs keep growing while no
 * daemon runs. One entry per line of output: {"log":"…\n","stream":"stdout","time":"RFC3339Nano"}; a line
 * longer than 16 KiB is cut into entries without the newline (docker's partial lines). Strings are escaped
 * the way docker's jsonlog does it (<, >, & and U+2028/9 as \u escapes; invalid UTF-8 becomes U+FFFD).
 * Rotation by size: with max_files N, the current file and N-1 older ones (path.1 … path.N-1); N = 1 truncates.
 */

struct logfile {
  int fd;
  u64 size, max_size;       /* max_size 0: no rotation */
  u32 max_files;
  char path[LOG_PATH_MAX];
};

static int log_open(struct logfile *l) {
  long end;
  l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (l->fd < 0) return -1;
  end = lseek(l->fd, 0, SEEK_END);
  l->size = end > 0 ? (u64)end : 0;
  return 0;
}

static void log_close(struct logfile *l) {
  close_if(l->fd);
  l->fd = -1;
}

/* "<path>" for n == 0, "<path>.<n>" otherwise. */
static void rotated_name(char *buf, size_t cap, const char *path, u32 n) {
  buf[0] = 0;
  cat(buf, cap, path);
  if (n) { cat(buf, cap, "."); fmt_uint(buf + str_len(buf), n); }
}

static void log_rotate(struct logfile *l) {
  static char from[LOG_PATH_MAX + 16], to[LOG_PATH_MAX + 16];
  u32 n;
  if (l->max_files <= 1) {
    if (ftruncate(l->fd, 0) == 0) l->size = 0;
    return;
  }
  for (n = l->max_files - 1; n >= 1; n--) {
    rotated_name(from, sizeof from, l->path, n - 1);
    rotated_name(to, sizeof to, l->path, n);
    rename(from, to);
  }
  log_close(l);
  if (log_open(l) < 0) klog("log-open", l->path, errno);
}

/* Howard Hinnant's days-to-civil: the proleptic Gregorian calendar without libc. */
static void civil(u64 days, u64 *y, u32 *m, u32 *d) {
  u64 z = days + 719468, era = z / 146097, doe = z - era * 146097;
  u64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  u64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  *d = (u32)(doy - (153 * mp + 2) / 5 + 1);
  *m = (u32)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static void put_2(char *buf, size_t cap, size_t *len, u32 v) {
  char two[2];
  two[0] = (char)('0' + v / 10 % 10); two[1] = (char)('0' + v % 10);
  put_bytes(buf, cap, len, two, 2);
}

/* RFC3339Nano as Go prints it: UTC, trailing zeros of the fraction trimmed. */
static void put_time(char *buf, size_t cap, size_t *len, u64 ns) {
  u64 secs = ns / 1000000000ull, y;
  u32 nanos = (u32)(ns % 1000000000ull), m, d, rem = (u32)(secs % 86400), digits = 9;
  char frac[10];
  civil(secs / 86400, &y, &m, &d);
  put_u64(buf, cap, len, y);
  put_str(buf, cap, len, "-"); put_2(buf, cap, len, m);
  put_str(buf, cap, len, "-"); put_2(buf, cap, len, d);
  put_str(buf, cap, len, "T"); put_2(buf, cap, len, rem / 3600);
  put_str(buf, cap, len, ":"); put_2(buf, cap, len, rem / 60 % 60);
  put_str(buf, cap, len, ":"); put_2(buf, cap, len, rem % 60);
  if (nanos) {
    u32 i;
    frac[0] = '.';
    for (i = 9; i >= 1; i--) { frac[i] = (char)('0' + nanos % 10); nanos /= 10; }
    while (frac[digits] == '0') digits--;
    put_bytes(buf, cap, len, frac, digits + 1);
  }
  put_str(buf, cap, len, "Z");
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 when invalid. */
static u32 utf8_len(const u8 *s, size_t n) {
  u32 need, i;
  u8 lo = 0x80, hi = 0xbf;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) need = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef) { need = 3; if (s[0] == 0xe0) lo = 0xa0; if (s[0] == 0xed) hi = 0x9f; }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4) { need = 4; if (s[0] == 0xf0) lo = 0x90; if (s[0] == 0xf4) hi = 0x8f; }
  else return 0;
  if (n < need || s[1] < lo || s[1] > hi) return 0;
  for (i = 2; i < need; i++) if (s[i] < 0x80 || s[i] > 0xbf) return 0;
  return need;
}

static void put_escaped(char *buf, size_t cap, size_t *len, const u8 *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < n) {
    u8 c = s[i];
    if (c >= 0x80) {
      u32 seq = utf8_len(s + i, n - i);
      if (!seq) put_str(buf, cap, len, "\\ufffd"), seq = 1;
      else if (seq == 3 && c == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
        put_str(buf, cap, len, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
      else put_bytes(buf, cap, len, (const char *)s + i, seq);
      i += seq;
      continue;
    }
    if (c == '"' || c == '\\') { char e[2]; e[0] = '\\'; e[1] = (char)c; put_bytes(buf, cap, len, e, 2); }
    else if (c == '\n') put_str(buf, cap, len, "\\n");
    else if (c == '\r') put_str(buf, cap, len, "\\r");
    else if (c == '\t') put_str(buf, cap, len, "\\t");
    else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
      char e[6];
      e[0] = '\\'; e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
      put_bytes(buf, cap, len, e, 6);
    } else put_bytes(buf, cap, len, (const char *)&c, 1);
    i++;
  }
}

/* One entry made of two pieces (a held partial line and the rest of it), written with one write(2). */
static void log_entry(struct logfile *l, const char *stream, const char *a, size_t alen, const char *b, size_t blen) {
  size_t n = 0;
  if (l->fd < 0) return;
  put_str(k_line, LINE_CAP, &n, "{\"log\":\"");
  put_escaped(k_line, LINE_CAP, &n, (const u8 *)a, alen);
  put_escaped(k_line, LINE_CAP, &n, (const u8 *)b, blen);
  put_str(k_line, LINE_CAP, &n, "\",\"stream\":\"");
  put_str(k_line, LINE_CAP, &n, stream);
  put_str(k_line, LINE_CAP, &n, "\",\"time\":\"");
  put_time(k_line, LINE_CAP, &n, now_ns());
  put_str(k_line, LINE_CAP, &n, "\"}\n");
  if (l->max_size && l->size > 0 && l->size + n > l->max_size) log_rotate(l);
  if (l->fd >= 0 && write(l->fd, k_line, n) > 0) l->size += n;
}

/*
 * Split output into entries: complete lines go out at once (from the read buffer, so the held buffer is
 * touched only for lines that arrive in pieces); the unterminated rest is held in `partial` until its
 * newline, end of file (flush_partial), or 16 KiB.
 */
static void log_output(struct logfile *l, const char *stream, char *partial, u32 *plen, const char *data, size_t n) {
  while (n) {
    size_t i = 0, take;
    while (i < n && data[i] != '\n') i++;
    if (i < n) {
      take = i + 1;
      if (*plen + take > CHUNK) { log_entry(l, stream, partial, *plen, 0, 0); *plen = 0; }
      log_entry(l, stream, partial, *plen, data, take);
      *plen = 0;
    } else {
      take = n;
      if (*plen + take > CHUNK) take = CHUNK - *plen;
      copy_bytes(partial + *plen, data, take);
      *plen += (u32)take;
      if (*plen == CHUNK) { log_entry(l, stream, partial, *plen, 0, 0); *plen = 0; }
    }
    data += take;
    n -= take;
  }
}

static void flush_partial(struct logfile *l, const char *stream, char *partial, u32 *plen) {
  if (*plen) log_entry(l, stream, partial, *plen, 0, 0);
  *plen = 0;
}
