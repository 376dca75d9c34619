/* Launcher part 2: the container's root filesystem, built in the child's private mount namespace. */

/* ---- paths inside the container root ---- */
static int statx_mode(int dirfd, const char *path, int flags, u32 *mode) {
  struct statx_head st;
  if (syscall(SYS_statx, dirfd, path, flags, STATX_TYPE | STATX_MODE, &st) < 0) return -1;
  *mode = st.mode;
  return 0;
}
static int open_in_root(const char *path, int flags) {
  struct open_how how;
  how.flags = (u64)(flags | O_CLOEXEC); how.mode = 0; how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return (int)syscall(SYS_openat2, g_rootfd, path, &how, sizeof how);
}
enum make { MAKE_NONE, MAKE_DIR, MAKE_FILE };
/*
 * Resolve `path` (absolute, container view) inside the rootfs, creating missing components when asked:
 * symlinks are followed but can never leave the root (openat2 RESOLVE_IN_ROOT), so a hostile image cannot
 * point a mount target at a host path. Returns an O_PATH fd.
 */
static int resolve_in_root(const char *path, int make) {
  static char prefix[4096];
  size_t i, n = str_len(path);
  int fd = open_in_root(path, O_PATH);
  if (fd >= 0 || errno != ENOENT || make == MAKE_NONE) return fd;
  if (n >= sizeof prefix) { errno = EINVAL; return -1; }
  for (i = 1; i <= n; i++) {
    int last = i == n, parent, rc;
    const char *name;
    if (!last && path[i] != '/') continue;
    copy_bytes(prefix, path, i); prefix[i] = 0;
    fd = open_in_root(prefix, O_PATH);
    if (fd >= 0) { close(fd); continue; }
    if (errno != ENOENT) return -1;
    /* Create the missing component in its (already resolved) parent directory. */
    name = prefix + i;
    while (name > prefix && name[-1] != '/') name--;
    if (name == prefix + i) continue; /* empty component ("//") */
    {
      char save = *name;
      *(char *)name = 0;
      parent = open_in_root(prefix, O_PATH | O_DIRECTORY);
      *(char *)name = save;
    }
    if (parent < 0) return -1;
    if (last && make == MAKE_FILE) {
      rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (rc >= 0) close(rc);
    } else {
      rc = mkdirat(parent, name, 0755);
    }
    close(parent);
    if (rc < 0 && errno != EEXIST) return -1;
  }
  return open_in_root(path, O_PATH);
}

/* Set or clear mount attributes on the mount at fd (mount_setattr, Linux >= 5.12). */
static int set_mount_attrs(int fd, u64 set, int recursive) {
  struct mount_attr attr;
  zero_bytes(&attr, sizeof attr);
  attr.attr_set = set;
  return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr);
}
static u64 attrs_of_flags(u64 flags) {
  return ((flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0) | ((flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
         ((flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
}

/*
 * Mount at `dest` (container path) inside the rootfs. Bind mounts get their attributes and propagation
 * applied afterwards on the new mount (re-resolved: the first fd names the directory under it).
 */
static void mount_in_root(const char *source, const char *dest, const char *fstype, u64 flags, u64 propagation,
                          const char *data) {
  char fdbuf[32];
  int make = MAKE_DIR, fd;
  if ((flags & MS_BIND) && source) {
    u32 mode;
    if (statx_mode(AT_FDCWD, source, 0, &mode) < 0) fail(S_MOUNT, dest);
    if ((mode & S_IFMT) != S_IFDIR) make = MAKE_FILE;
  }
  fd = resolve_in_root(dest, make);
  if (fd < 0) fail(S_MOUNT, dest);
  if (flags & MS_BIND) {
    if (mount(source, fd_path(fd, fdbuf), 0, MS_BIND | (flags & MS_REC), 0) < 0) fail(S_MOUNT, dest);
  } else {
    if (mount(source, fd_path(fd, fdbuf), fstype, flags & ~(u64)(MS_REC), data) < 0) fail(S_MOUNT, dest);
  }
  close(fd);
  if (((flags & MS_BIND) && attrs_of_flags(flags)) || propagation) {
    fd = resolve_in_root(dest, MAKE_NONE);
    if (fd < 0) fail(S_MOUNT, dest);
    if ((flags & MS_BIND) && attrs_of_flags(flags) && set_mount_attrs(fd, attrs_of_flags(flags), (flags & MS_REC) != 0) < 0)
      fail(S_MOUNT, dest);
    if (propagation && mount(0, fd_path(fd, fdbuf), 0, propagation, 0) < 0) fail(S_MOUNT, dest);
    close(fd);
  }
}

static u64 makedev(u32 major, u32 minor) {
  return ((u64)(major & 0xfff) << 8) | (minor & 0xff) | ((u64)(minor & ~0xffu) << 12) | ((u64)(major & ~0xfffu) << 32);
}

/* No CAP_MKNOD (e.g. a restricted daemon): bind the host's node over an empty file named `name` in dirfd. */
static void bind_host_node(int dirfd, const char *name, const char *host_path, u32 mode) {
  char fdbuf[32];
  int fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 07777);
  if (fd < 0) fail(S_DEVICES, host_path);
  close(fd);
  fd = openat(dirfd, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || mount(host_path, fd_path(fd, fdbuf), 0, MS_BIND, 0) < 0) fail(S_DEVICES, host_path);
  close(fd);
}

/*
 * `docker run --device`: copies of host nodes (type, numbers, mode, owner), made after the standard ones so a
 * node of the same name is replaced. Parent directories (/dev/net) are created inside the root.
 */
static void make_devices(void) {
  u32 pos = 8, len;
  const u8 *p;
  while ((p = next_rec(T_DEVICE, &pos, &len))) {
    u32 mode = rd32(p);
    const char *path = (const char *)p + 24, *host_path = path + str_len(path) + 1, *name = path + str_len(path);
    size_t parent_len;
    int parent;
    while (name > path && name[-1] != '/') name--;
    parent_len = (size_t)(name - path) > 1 ? (size_t)(name - path) - 1 : 1; /* without the trailing slash, except "/" */
    if (parent_len >= sizeof g_path) fail_errno(S_DEVICES, EINVAL, path);
    copy_bytes(g_path, path, parent_len); g_path[parent_len] = 0;
    parent = resolve_in_root(g_path, MAKE_DIR);
    if (parent < 0) fail(S_DEVICES, path);
    if (unlinkat(parent, name, 0) < 0 && errno != ENOENT) fail(S_DEVICES, path);
    if (mknodat(parent, name, mode, makedev(rd32(p + 4), rd32(p + 8))) < 0) bind_host_node(parent, name, host_path, mode);
    else if (fchownat(parent, name, rd32(p + 12), rd32(p + 16), AT_SYMLINK_NOFOLLOW) < 0) fail(S_DEVICES, path);
    close(parent);
  }
}

/* /dev: a fresh tmpfs with the standard nodes, pts, shm and mqueue (docker's default /dev). */
static void setup_dev(void) {
  static const struct { const char *name; u32 major, minor; } nodes[] = {
    { "null", 1, 3 }, { "zero", 1, 5 }, { "full", 1, 7 }, { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
  };
  static const struct { const char *target, *name; } links[] = {
    { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
    { "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },
  };
  char data[64];
  const u8 *shm = first_rec(T_SHM_SIZE, 0);
  u32 i;
  int devfd;
  mount_in_root("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, 0, "mode=755,size=65536k");
  devfd = resolve_in_root("/dev", MAKE_NONE);
  if (devfd < 0) fail(S_DEVICES, "/dev");
  for (i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    if (mknodat(devfd, nodes[i].name, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) == 0) continue;
    g_path[0] = 0; cat(g_path, sizeof g_path, "/dev/"); cat(g_path, sizeof g_path, nodes[i].name);
    bind_host_node(devfd, nodes[i].name, g_path, 0666);
  }
  for (i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlinkat(links[i].target, devfd, links[i].name) < 0) fail(S_DEVICES, links[i].name);
  if (g_options & OPT_TTY) { /* bind target for the console */
    int fd = openat(devfd, "console", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) fail(S_DEVICES, "/dev/console");
    close(fd);
  }
  close(devfd);
  mount_in_root("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, 0, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  data[0] = 0; cat(data, sizeof data, "mode=1777,size=");
  fmt_uint(data + str_len(data), shm ? rd64(shm) : 64ull << 20);
  mount_in_root("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, data);
  mount_in_root("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0);
  make_devices();
}

static void setup_sys(void) {
  if (g_options & OPT_BIND_SYS) {
    /* The host's network namespace: a fresh sysfs would show the wrong devices, so bind the host's. */
    u64 ro = (g_options & OPT_SYS_RW) ? 0 : MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    mount_in_root("/sys", "/sys", 0, MS_BIND | MS_REC | ro, 0, 0);
  } else {
    mount_in_root("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | ((g_options & OPT_SYS_RW) ? 0 : MS_RDONLY), 0, 0);
  }
}

static void user_mounts(void) {
  u32 pos = 8, len;
  const u8 *p;
  while ((p = next_rec(T_MOUNT, &pos, &len))) {
    u64 flags = rd64(p), propagation = rd64(p + 8);
    const char *source = (const char *)p + 16;
    const char *dest = source + str_len(source) + 1;
    const char *fstype = dest + str_len(dest) + 1;
    const char *data = fstype + str_len(fstype) + 1;
    mount_in_root(*source ? source : 0, dest, *fstype ? fstype : 0, flags, propagation, *data ? data : 0);
  }
}

static void pivot_into_rootfs(void) {
  if (fchdir(g_rootfd) < 0) fail(S_PIVOT, g_rootfs);
  /* Stack the old root on top of the new one, then detach it: no temporary directory needed. */
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail(S_PIVOT, g_rootfs);
  if (umount2(".", MNT_DETACH) < 0) fail(S_PIVOT, "old root");
  if (chdir("/") < 0) fail(S_PIVOT, "/");
  close(g_rootfd);
  g_rootfd = -1;
}

static void mask_paths(void) {
  u32 pos = 8, len;
  const char *path;
  while ((path = (const char *)next_rec(T_MASK, &pos, &len))) {
    u32 mode;
    if (statx_mode(AT_FDCWD, path, 0x100 /* AT_SYMLINK_NOFOLLOW */, &mode) < 0) {
      if (errno == ENOENT) continue;
      fail(S_MASK, path);
    }
    if ((mode & S_IFMT) == S_IFDIR) {
      if (mount("tmpfs", path, "tmpfs", MS_RDONLY, 0) < 0) fail(S_MASK, path);
    } else if (mount("/dev/null", path, 0, MS_BIND, 0) < 0) {
      fail(S_MASK, path);
    }
  }
}

static void readonly_paths(void) {
  u32 pos = 8, len;
  const char *path;
  while ((path = (const char *)next_rec(T_READONLY, &pos, &len))) {
    int fd;
    if (mount(path, path, 0, MS_BIND | MS_REC, 0) < 0) {
      if (errno == ENOENT) continue;
      fail(S_READONLY, path);
    }
    fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || set_mount_attrs(fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 1) < 0)
      fail(S_READONLY, path);
    close(fd);
  }
}

static void write_sysctls(void) {
  u32 pos = 8, len;
  const char *name;
  while ((name = (const char *)next_rec(T_SYSCTL, &pos, &len))) {
    const char *value = name + str_len(name) + 1;
    int fd;
    g_path[0] = 0;
    if (!cat(g_path, sizeof g_path, "/proc/sys/") || !cat(g_path, sizeof g_path, name)) fail_errno(S_SYSCTL, EINVAL, name);
    fd = open(g_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || write(fd, value, str_len(value)) < 0) fail(S_SYSCTL, name);
    close(fd);
  }
}

static void set_names(void) {
  const char *name;
  if ((name = (const char *)first_rec(T_HOSTNAME, 0)) && sethostname(name, str_len(name)) < 0) fail(S_HOSTNAME, name);
  if ((name = (const char *)first_rec(T_DOMAINNAME, 0)) && setdomainname(name, str_len(name)) < 0) fail(S_DOMAINNAME, name);
}

/* Join namespaces named by path (docker's --net/--ipc/--uts container:<id> or a netns file). */
static void join_namespaces(void) {
  u32 pos = 8, len;
  const u8 *p;
  while ((p = next_rec(T_JOIN_NS, &pos, &len))) {
    const char *path = (const char *)p + 8;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, (int)rd32(p)) < 0) fail(S_JOIN_NS, path);
    close(fd);
  }
}
