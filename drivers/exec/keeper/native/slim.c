/*
 * Keeper part 2: slim. The keeper starts as a copy of the daemon's address space (heap, JIT, secrets); left
 * alone, every page the daemon later rewrites becomes the keeper's private memory (measured: 362 MiB). So
 * right after its birth the keeper unmaps everything except what its own code can reach:
 *  - this module: TinyCC puts text, data, bss and GOT in one block inside the daemon's malloc arena, text
 *    first (its own rwx VMA) and the GOT last (right after bss, at _GLOBAL_OFFSET_TABLE_);
 *  - what the GOT points to outside the module: libc (kept whole, up to the end of its bss, read from its
 *    ELF program headers), and Bun's memset/memcpy thunks, which TinyCC links implicit aggregate copies to.
 *    A thunk is `jmp *slot(%rip)` into Bun's own GOT: its page and the slot's page are kept. A thunk of an
 *    unknown shape keeps its whole file mapped instead;
 *  - ld.so (glibc functions read _rtld_global_ro), the vDSO/vvar, the TLS block (errno, the thread
 *    descriptor), and the keeper's own stack.
 * munmap, not MADV_DONTNEED: a stray access then faults at once instead of reading zeros, and the daemon's
 * pages (credentials, keys) are really gone.
 */

int getpagesize(void);

#define VMA_R 1
#define VMA_W 2
#define VMA_X 4
struct vma { u64 start, end, offset; u32 flags; u32 path; /* offset of the path in the names area, 0: none */ };
struct range { u64 lo, hi; };

#define MAX_KEEP 96
#define MAX_VMAS 32768
#define MAX_GOT_ENTRIES 256       /* well above this unit's imports (about 90) */
#define SLIM_SCRATCH (MAX_VMAS * sizeof(struct vma) + (4u << 20))

static u64 k_page = 4096;
static u64 k_stack_lo, k_stack_hi; /* the keeper's own stack, mapped by keeper_start */
static struct range s_keep[MAX_KEEP];
static int s_nkeep;
static struct vma *s_vmas;
static u32 s_nvmas;
static char *s_names;
static u32 s_names_len, s_names_cap;

static u64 page_down(u64 a) { return a & ~(k_page - 1); }
static u64 page_up(u64 a) { return (a + k_page - 1) & ~(k_page - 1); }

static void keep(u64 lo, u64 hi) {
  if (hi <= lo || s_nkeep == MAX_KEEP) return;
  s_keep[s_nkeep].lo = page_down(lo);
  s_keep[s_nkeep].hi = page_up(hi);
  s_nkeep++;
}
static int kept(u64 a) {
  int i;
  for (i = 0; i < s_nkeep; i++) if (a >= s_keep[i].lo && a < s_keep[i].hi) return 1;
  return 0;
}
static struct vma *vma_of(u64 a) {
  u32 lo = 0, hi = s_nvmas;
  while (lo < hi) { /* the table is sorted: /proc/self/maps lists by address */
    u32 mid = (lo + hi) / 2;
    if (a < s_vmas[mid].start) hi = mid;
    else if (a >= s_vmas[mid].end) lo = mid + 1;
    else return &s_vmas[mid];
  }
  return 0;
}
static const char *path_of(const struct vma *v) { return v->path ? s_names + v->path : ""; }
static const char *base_name(const char *path) {
  const char *b = path;
  for (; *path; path++) if (*path == '/') b = path + 1;
  return b;
}

static u64 parse_hex(const char **p) {
  u64 v = 0;
  for (;; (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (u64)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (u64)(c - 'a' + 10);
    else return v;
  }
}

/* "start-end perms offset dev inode   path" */
static void add_vma(const char *line, const char *end) {
  struct vma *v;
  const char *p = line;
  int field;
  if (s_nvmas == MAX_VMAS) return;
  v = &s_vmas[s_nvmas];
  v->start = parse_hex(&p); p++;
  v->end = parse_hex(&p); p++;
  v->flags = (p[0] == 'r' ? VMA_R : 0) | (p[1] == 'w' ? VMA_W : 0) | (p[2] == 'x' ? VMA_X : 0);
  p += 5;
  v->offset = parse_hex(&p);
  for (field = 0; field < 2 && p < end; field++) { while (p < end && *p == ' ') p++; while (p < end && *p != ' ') p++; }
  while (p < end && *p == ' ') p++;
  v->path = 0;
  if (p < end && s_names_len + (u32)(end - p) + 1 < s_names_cap) {
    v->path = s_names_len;
    copy_bytes(s_names + s_names_len, p, (size_t)(end - p));
    s_names_len += (u32)(end - p);
    s_names[s_names_len++] = 0;
  }
  s_nvmas++;
}

static int read_maps(char *buf, size_t cap) {
  size_t have = 0;
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  while (1) {
    ssize_t n = read(fd, buf + have, cap - have);
    size_t start = 0, i;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    have += (size_t)n;
    for (i = 0; i < have; i++)
      if (buf[i] == '\n') { add_vma(buf + start, buf + i); start = i + 1; }
    copy_bytes(buf, buf + start, have - start);
    have -= start;
    if (have == cap) break; /* a line longer than the buffer: cannot happen */
  }
  close(fd);
  return s_nvmas ? 0 : -1;
}

/* A shared object kept whole: from its ELF header (mapped at offset 0) to the end of its last PT_LOAD. */
static void keep_object(const struct vma *first) {
  const u8 *base = (const u8 *)first->start;
  u64 phoff, end = first->end;
  u32 i, phnum, phentsize;
  if (first->offset != 0 || !(first->flags & VMA_R) || first->end - first->start < 64 ||
      base[0] != 0x7f || base[1] != 'E' || base[2] != 'L' || base[3] != 'F' || base[4] != 2 /* 64-bit */) {
    keep(first->start, first->end);
    return;
  }
  phoff = rd64(base + 0x20);
  phentsize = base[0x36] | (u32)base[0x37] << 8;
  phnum = base[0x38] | (u32)base[0x39] << 8;
  if (phentsize < 56 || phoff + (u64)phnum * phentsize > first->end - first->start) { keep(first->start, first->end); return; }
  for (i = 0; i < phnum; i++) {
    const u8 *ph = base + phoff + (u64)i * phentsize;
    if (rd32(ph) == 1 /* PT_LOAD */ && first->start + rd64(ph + 0x10) + rd64(ph + 0x28) > end)
      end = first->start + rd64(ph + 0x10) + rd64(ph + 0x28);
  }
  keep(first->start, end);
}

static void keep_same_file(const struct vma *v) {
  u32 i;
  for (i = 0; i < s_nvmas; i++)
    if (v->path && s_vmas[i].path && str_eq(path_of(&s_vmas[i]), path_of(v))) keep(s_vmas[i].start, s_vmas[i].end);
}

/*
 * A GOT entry that points outside what is kept already: keep its page; when it is a thunk that jumps
 * through a slot (x86_64 `ff 25 disp32`), keep the slot's page and what the slot points to.
 */
static void keep_import(u64 target) {
  struct vma *v = vma_of(target);
  u64 limit, at;
  int found = 0;
  if (!v || kept(target)) return;
  if (!(v->flags & VMA_X)) { keep(target, target + 8); return; } /* data */
  limit = target + 64 < v->end ? target + 64 : v->end;
  keep(target, limit);
#if defined(__x86_64__)
  if (v->flags & VMA_R)
    for (at = target; at + 6 <= limit; at++) {
      const u8 *code = (const u8 *)at;
      u64 slot, next;
      struct vma *sv;
      if (code[0] != 0xff || code[1] != 0x25) continue;
      slot = at + 6 + (u64)(long)(int)rd32(code + 2);
      sv = vma_of(slot);
      if (!sv || !(sv->flags & VMA_R)) continue;
      found = 1;
      keep(slot, slot + 8);
      next = rd64((const u8 *)slot);
      if (!kept(next) && vma_of(next)) keep(next, next + 64);
    }
#endif
  if (!found) keep_same_file(v);
}

static void keep_tls(u64 a) {
  struct vma *v = vma_of(a);
  if (!v) return;
  if (v->end - v->start <= (1u << 20)) keep(v->start, v->end);
  else keep(a > 65536 ? a - 65536 : 0, a + 65536);
}

static int keeper_main(void *arg);

static void keep_module(void) {
  struct vma *text = vma_of((u64)keeper_main);
  const u64 *got = (const u64 *)_GLOBAL_OFFSET_TABLE_;
  u32 i;
  keep(text->start, (u64)_GLOBAL_OFFSET_TABLE_ + MAX_GOT_ENTRIES * 8);
  for (i = 3; i < MAX_GOT_ENTRIES && vma_of((u64)&got[i]); i++) if (got[i]) keep_import(got[i]);
}

static void sort_and_merge(void) {
  int i, j, n = 0;
  for (i = 1; i < s_nkeep; i++) {
    struct range r = s_keep[i];
    for (j = i; j > 0 && s_keep[j - 1].lo > r.lo; j--) s_keep[j] = s_keep[j - 1];
    s_keep[j] = r;
  }
  for (i = 0; i < s_nkeep; i++) {
    if (n && s_keep[i].lo <= s_keep[n - 1].hi) {
      if (s_keep[i].hi > s_keep[n - 1].hi) s_keep[n - 1].hi = s_keep[i].hi;
    } else {
      s_keep[n++] = s_keep[i];
    }
  }
  s_nkeep = n;
}

/* Returns the number of kept ranges, or -1 (nothing unmapped) when the address space could not be read. */
static int slim(void) {
  u8 *scratch = mmap(0, SLIM_SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  u64 top = 0, fs = 0, lo;
  u32 i;
  int r;
  if (scratch == (void *)-1) return -1;
  s_vmas = (struct vma *)scratch;
  s_names = (char *)scratch + MAX_VMAS * sizeof(struct vma);
  s_names_cap = (2u << 20);
  s_names_len = 1;
  s_nvmas = 0;
  s_nkeep = 0;
  if (read_maps(s_names + s_names_cap, (2u << 20)) < 0 || !vma_of((u64)keeper_main)) {
    munmap(scratch, SLIM_SCRATCH);
    return -1;
  }
  keep(k_stack_lo, k_stack_hi);
  for (i = 0; i < s_nvmas; i++) {
    const char *path = path_of(&s_vmas[i]), *name = base_name(path);
    if (has_prefix(name, "libc.so") || has_prefix(name, "libc-") || has_prefix(name, "ld-linux")) {
      if (s_vmas[i].offset == 0) keep_object(&s_vmas[i]);
      else keep(s_vmas[i].start, s_vmas[i].end);
    }
    if (str_eq(path, "[vdso]") || has_prefix(path, "[vvar")) keep(s_vmas[i].start, s_vmas[i].end);
    if (s_vmas[i].end > top && s_vmas[i].end < 0xffff000000000000ull) top = s_vmas[i].end; /* not [vsyscall] */
  }
  keep_tls((u64)__errno_location());
#if defined(__x86_64__)
  if (syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &fs) == 0) keep_tls(fs);
#endif
  keep_module();
  sort_and_merge();
  /* From here on only the keep list (static), the stack and libc are used: the scratch goes with the rest. */
  lo = k_page;
  for (r = 0; r < s_nkeep; r++) {
    if (s_keep[r].lo > lo) munmap((void *)lo, s_keep[r].lo - lo);
    lo = s_keep[r].hi;
  }
  if (top > lo) munmap((void *)lo, top - lo);
  s_vmas = 0; s_names = 0;
  return s_nkeep;
}
