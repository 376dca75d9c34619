/**
 * The one place that dlopens libc. Everything else calls the typed wrappers below, which turn a -1 return
 * into a SysError carrying errno. Add a symbol here (and a wrapper) rather than calling dlopen elsewhere.
 */
import { dlopen, FFIType, ptr, read, CString, type Pointer } from "bun:ffi";
import { errnoName } from "./errno";

export class SysError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly detail = "",
  ) {
    super(`${syscall}${detail ? ` ${detail}` : ""}: ${errnoName(errno)} (${strerror(errno)})`);
    this.name = "SysError";
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

const { i32, i64, u64, ptr: P, cstring } = FFIType;

const lib = dlopen("libc.so.6", {
  __errno_location: { args: [], returns: P },
  strerror: { args: [i32], returns: cstring },
  mount: { args: [P, P, P, u64, P], returns: i32 },
  umount2: { args: [P, i32], returns: i32 },
  // syscall(2) is variadic; the x86_64/aarch64 ABIs pass these integer arguments in the same registers.
  syscall: { args: [i64, i64, i64, i64, i64, i64, i64], returns: i64 },
  mknod: { args: [P, u64, u64], returns: i32 },
  lsetxattr: { args: [P, P, P, u64, i32], returns: i32 },
  lgetxattr: { args: [P, P, P, u64], returns: i64 },
  llistxattr: { args: [P, P, u64], returns: i64 },
  setns: { args: [i32, i32], returns: i32 },
  open: { args: [P, i32, u64], returns: i32 },
  openat: { args: [i32, P, i32, u32()], returns: i32 },
  fchown: { args: [i32, u32(), u32()], returns: i32 },
  fchmod: { args: [i32, u32()], returns: i32 },
  close: { args: [i32], returns: i32 },
  read: { args: [i32, P, u64], returns: i64 },
  write: { args: [i32, P, u64], returns: i64 },
  ioctl: { args: [i32, u64, P], returns: i32 },
  kill: { args: [i32, i32], returns: i32 },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  socket: { args: [i32, i32, i32], returns: i32 },
  bind: { args: [i32, P, u32()], returns: i32 },
  sendto: { args: [i32, P, u64, i32, P, u32()], returns: i64 },
  recvfrom: { args: [i32, P, u64, i32, P, P], returns: i64 },
  setsockopt: { args: [i32, i32, i32, P, u32()], returns: i32 },
  getsockopt: { args: [i32, i32, i32, P, P], returns: i32 },
  connect: { args: [i32, P, u32()], returns: i32 },
  sendmsg: { args: [i32, P, i32], returns: i64 },
  recvmsg: { args: [i32, P, i32], returns: i64 },
  getpid: { args: [], returns: i32 },
  statfs: { args: [P, P], returns: i32 },
  lchown: { args: [P, u32(), u32()], returns: i32 },
  utimensat: { args: [i32, P, P, i32], returns: i32 },
  futimens: { args: [i32, P], returns: i32 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  waitpid: { args: [i32, P, i32], returns: i32 },
  flock: { args: [i32, i32], returns: i32 },
  waitid: { args: [i32, u32(), P, i32], returns: i32 },
  pipe2: { args: [P, i32], returns: i32 },
  poll: { args: [P, u64, i32], returns: i32 },
  memfd_create: { args: [P, u32()], returns: i32 },
  sync_file_range: { args: [i32, i64, i64, u32()], returns: i32 },
});

function u32() {
  return FFIType.u32;
}

const sym = lib.symbols;


export function errno(): number {
  return read.i32(sym.__errno_location() as Pointer, 0);
}

export function strerror(code: number): string {
  return String(sym.strerror(code));
}

/** NUL-terminated UTF-8 buffer for passing a path or string to C. */
export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

function check(name: string, rc: number | bigint, detail = ""): number {
  const n = Number(rc);
  if (n === -1) throw new SysError(name, errno(), detail);
  return n;
}

function optCstr(s: string | null | undefined): Buffer | null {
  return s == null ? null : cstr(s);
}

// ---- mounts ----
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, MOVE: 8192, REC: 16384,
  PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, STRICTATIME: 1 << 24,
} as const;
export const MNT_DETACH = 2;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  const keep = [source, target, fstype, data].map((s) => (s == null ? null : cstr(s)));
  check("mount", sym.mount(keep[0]!, keep[1]!, keep[2]!, BigInt(flags), keep[3]!), target);
}

export function umount(target: string, flags = 0): void {
  check("umount2", sym.umount2(cstr(target), flags), target);
}

// ---- files ----
export const S_IFCHR = 0o020000;
export function makedev(major: number, minor: number): bigint {
  return BigInt(((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12));
}

export function mknod(path: string, mode: number, dev: bigint): void {
  check("mknod", sym.mknod(cstr(path), BigInt(mode), dev), path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  const v = value.length ? value : optCstr("");
  check("lsetxattr", sym.lsetxattr(cstr(path), cstr(name), v, BigInt(value.length), flags), `${path} ${name}`);
}

/** Returns null when the attribute does not exist. */
/** Room for the largest xattr value or name list Linux allows; shared, as every call here is synchronous. */
const xattrScratch = new Uint8Array(65536);

export function lgetxattr(path: string, name: string): Uint8Array | null {
  const buf = xattrScratch;
  const n = Number(sym.lgetxattr(cstr(path), cstr(name), buf, BigInt(buf.length)));
  if (n === -1) {
    const e = errno();
    if (e === 61 /* ENODATA */ || e === 95 /* EOPNOTSUPP */) return null;
    throw new SysError("lgetxattr", e, `${path} ${name}`);
  }
  return buf.slice(0, n);
}

export function llistxattr(path: string): string[] {
  const buf = xattrScratch;
  const n = Number(sym.llistxattr(cstr(path), buf, BigInt(buf.length)));
  if (n === -1) {
    const e = errno();
    if (e === 95) return [];
    throw new SysError("llistxattr", e, path);
  }
  return new TextDecoder().decode(buf.subarray(0, n)).split("\0").filter(Boolean);
}

export function lchown(path: string, uid: number, gid: number): void {
  check("lchown", sym.lchown(cstr(path), uid, gid), path);
}

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** Set atime/mtime (seconds, fractional allowed) without following a final symlink. */
export function lutimes(path: string, atimeSec: number, mtimeSec: number): void {
  const ts = new BigInt64Array(4);
  ts[0] = BigInt(Math.floor(atimeSec));
  ts[1] = BigInt(Math.round((atimeSec % 1) * 1e9));
  ts[2] = BigInt(Math.floor(mtimeSec));
  ts[3] = BigInt(Math.round((mtimeSec % 1) * 1e9));
  check("utimensat", sym.utimensat(AT_FDCWD, cstr(path), ts, AT_SYMLINK_NOFOLLOW), path);
}

const SYNC_FILE_RANGE_WRITE = 2;
/** Start writing a file range back to disk without waiting for it, so that a later fsync has little left to do. */
export function startWriteback(fd: number, offset: number, length: number): void {
  check("sync_file_range", sym.sync_file_range(fd, BigInt(offset), BigInt(length), SYNC_FILE_RANGE_WRITE));
}

export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400, TRUNC: 0o1000, NONBLOCK: 0o4000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000, CLOEXEC: 0o2000000, PATH: 0o10000000 } as const;

export function open(path: string, flags: number, mode = 0): number {
  return check("open", sym.open(cstr(path), flags, BigInt(mode)), path);
}

/**
 * openat(2) of `name` relative to the open directory `dirfd`. The name is encoded into a reused buffer: this is
 * called once per file when extracting a layer, where allocating a C string per call shows in the profile.
 */
export function openat(dirfd: number, name: string, flags: number, mode = 0): number {
  const length = Buffer.byteLength(name);
  const path = length < pathScratch.length ? pathScratch : Buffer.alloc(length + 1);
  path.write(name, 0);
  path[length] = 0;
  return check("openat", sym.openat(dirfd, path, flags, mode), name);
}
/** Room for PATH_MAX; every call that uses it is synchronous. */
const pathScratch = Buffer.alloc(4096);

export function fchown(fd: number, uid: number, gid: number): void {
  check("fchown", sym.fchown(fd, uid, gid));
}

export function fchmod(fd: number, mode: number): void {
  check("fchmod", sym.fchmod(fd, mode));
}

export function close(fd: number): void {
  check("close", sym.close(fd));
}

export function ioctl(fd: number, request: number | bigint, arg: Uint8Array | null): number {
  return check("ioctl", sym.ioctl(fd, BigInt(request), arg));
}

// ---- processes ----
export function kill(pid: number, signal: number): void {
  check("kill", sym.kill(pid, signal), String(pid));
}

/** kill(pid, 0): does the process exist? */
export function processExists(pid: number): boolean {
  if (sym.kill(pid, 0) === 0) return true;
  return errno() === 1; // EPERM: exists, not ours
}

export const PR_SET_CHILD_SUBREAPER = 36;
export function prctl(option: number, arg2 = 0): number {
  return check("prctl", sym.prctl(option, BigInt(arg2), 0n, 0n, 0n));
}

export function getpid(): number {
  return sym.getpid();
}

export const WNOHANG = 1;
/** waitpid; returns [pid, rawStatus]; pid 0 with WNOHANG when nothing changed. */
export function waitpid(pid: number, options = 0): [number, number] {
  const status = new Int32Array(1);
  const r = check("waitpid", sym.waitpid(pid, status, options));
  return [r, status[0]!];
}

/** Decode a wait status the way docker reports it: exit code, or 128+signal. */
export function exitCodeOfStatus(status: number): number {
  const sig = status & 0x7f;
  if (sig === 0) return (status >> 8) & 0xff;
  return 128 + sig;
}

export const SYS = { pidfd_open: 434, pidfd_send_signal: 424, pivot_root: 155, fsopen: 430, fsconfig: 431, fsmount: 432, move_mount: 429, close_range: 436, openat2: 437 } as const;

type SyscallBuffer = NodeJS.TypedArray | DataView;
type SyscallArg = number | bigint | Pointer | SyscallBuffer | null;

/** syscall(2). Pass buffers themselves, not ptr(buffer): they are kept reachable until the call returns. */
export function syscall(nr: number, ...args: SyscallArg[]): number {
  return syscallNamed(`syscall(${nr})`, "", nr, args);
}

/**
 * The arguments are raw integers, so nothing tells the GC that the buffers behind the addresses are in use: an
 * allocation between ptr() and the call (a BigInt conversion) can collect them and the kernel reads freed memory.
 * Measured: openat2 failed with a bogus ENOENT after ~58k calls before buffers were pinned here.
 */
let pinnedForSyscall: SyscallBuffer[] = [];
function syscallNamed(name: string, detail: string, nr: number, args: SyscallArg[]): number {
  const buffers = args.filter((x): x is SyscallBuffer => ArrayBuffer.isView(x));
  pinnedForSyscall = buffers;
  try {
    const a = args.map((x) => (x == null ? 0n : typeof x === "bigint" ? x : ArrayBuffer.isView(x) ? BigInt(ptr(x)) : BigInt(x as number)));
    while (a.length < 6) a.push(0n);
    return check(name, sym.syscall(BigInt(nr), a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!), detail);
  } finally {
    pinnedForSyscall = [];
  }
}

// ---- confined path resolution (openat2, Linux >= 5.6) ----
export const RESOLVE = { NO_XDEV: 0x01, NO_MAGICLINKS: 0x02, NO_SYMLINKS: 0x04, BENEATH: 0x08, IN_ROOT: 0x10 } as const;

/** openat2(2) with `struct open_how { flags, mode, resolve }`; returns the new fd. */
export function openat2(dirfd: number, path: string, flags: number, resolve: number, mode = 0): number {
  const how = new BigUint64Array([BigInt(flags), BigInt(mode), BigInt(resolve)]);
  return syscallNamed("openat2", path, SYS.openat2, [dirfd, cstr(path), how, how.byteLength]);
}

/** utimensat(AT_FDCWD, path, ..., AT_SYMLINK_NOFOLLOW) with nanosecond times. */
export function lutimesNs(path: string, atimeNs: bigint, mtimeNs: bigint): void {
  const times = new BigInt64Array(4);
  putTimespecs(times, atimeNs, mtimeNs);
  check("utimensat", sym.utimensat(AT_FDCWD, cstr(path), times, AT_SYMLINK_NOFOLLOW), path);
}

/**
 * futimens(2): set the times of an open file with nanosecond precision. Called once per file when extracting a
 * layer, whose files mostly share their times, so the timespecs of the last call are kept and reused.
 */
export function futimensNs(fd: number, atimeNs: bigint, mtimeNs: bigint): void {
  if (atimeNs !== lastTimes.atimeNs || mtimeNs !== lastTimes.mtimeNs) {
    putTimespecs(lastTimes.timespecs, atimeNs, mtimeNs);
    lastTimes.atimeNs = atimeNs;
    lastTimes.mtimeNs = mtimeNs;
  }
  check("futimens", sym.futimens(fd, lastTimes.timespecs));
}
const lastTimes = { atimeNs: 0n, mtimeNs: 0n, timespecs: new BigInt64Array(4) };

const NS_PER_SECOND = 1_000_000_000n;

/** Store two times as `struct timespec[2]`. BigInt arithmetic shows per file, so atime == mtime is split once. */
function putTimespecs(into: BigInt64Array, atimeNs: bigint, mtimeNs: bigint): void {
  putTimespec(into, 0, atimeNs);
  if (mtimeNs !== atimeNs) return putTimespec(into, 2, mtimeNs);
  into[2] = into[0]!;
  into[3] = into[1]!;
}

/** A timespec whose tv_nsec is in [0, 1e9), as the kernel requires (also before 1970). */
function putTimespec(into: BigInt64Array, at: number, ns: bigint): void {
  // Division rounds toward zero: times before 1970 borrow a second.
  let seconds = ns / NS_PER_SECOND;
  let nanoseconds = ns - seconds * NS_PER_SECOND;
  if (nanoseconds < 0n) {
    seconds -= 1n;
    nanoseconds += NS_PER_SECOND;
  }
  into[at] = seconds;
  into[at + 1] = nanoseconds;
}

// ---- new mount API (fsopen/fsconfig/fsmount/move_mount, Linux >= 5.2) ----
export const MOUNT_ATTR = { RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8 } as const;
const FSOPEN_CLOEXEC = 1;
const FSMOUNT_CLOEXEC = 1;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const MOVE_MOUNT_F_EMPTY_PATH = 4;

/** A filesystem context fd for `fsname`; read() on it yields the kernel's error messages. */
export function fsopen(fsname: string): number {
  return syscallNamed("fsopen", fsname, SYS.fsopen, [cstr(fsname), FSOPEN_CLOEXEC]);
}

export function fsconfigString(fsfd: number, key: string, value: string): void {
  syscallNamed("fsconfig", `${key}=${value}`, SYS.fsconfig, [fsfd, FSCONFIG_SET_STRING, cstr(key), cstr(value), 0]);
}

export function fsconfigCreate(fsfd: number): void {
  syscallNamed("fsconfig", "FSCONFIG_CMD_CREATE", SYS.fsconfig, [fsfd, FSCONFIG_CMD_CREATE, null, null, 0]);
}

/** Turn a created filesystem context into a detached mount; `attrFlags` is a mask of MOUNT_ATTR. */
export function fsmount(fsfd: number, attrFlags = 0): number {
  return syscallNamed("fsmount", "", SYS.fsmount, [fsfd, FSMOUNT_CLOEXEC, attrFlags]);
}

/** Attach the detached mount `mountFd` at `target`. */
export function moveMountTo(mountFd: number, target: string): void {
  syscallNamed("move_mount", target, SYS.move_mount, [mountFd, cstr(""), AT_FDCWD, cstr(target), MOVE_MOUNT_F_EMPTY_PATH]);
}

export const P_PID = 1;
export const P_PIDFD = 3;
export const WEXITED = 4;
export const WNOWAIT = 0x01000000;
/** Child state from waitid(2); `pid` 0 means nothing was ready (WNOHANG). */
export interface WaitIdResult {
  pid: number;
  /** CLD_EXITED (1), CLD_KILLED (2), CLD_DUMPED (3), ... */
  code: number;
  /** Exit status for CLD_EXITED, otherwise the signal number. */
  status: number;
}
export function waitid(idType: number, id: number, options: number): WaitIdResult {
  const info = new Int32Array(32); // siginfo_t is 128 bytes
  check("waitid", sym.waitid(idType, id, info, options), `${idType}:${id}`);
  return { pid: info[4]!, code: info[2]!, status: info[6]! };
}

/** pipe2(2): returns [readEnd, writeEnd]. */
export function pipe2(flags: number): [number, number] {
  const fds = new Int32Array(2);
  check("pipe2", sym.pipe2(fds, flags));
  return [fds[0]!, fds[1]!];
}

export const POLLIN = 1;
/** poll(2) over parallel arrays; fills `revents` and returns the number of ready fds (0 on timeout). */
export function poll(fds: Int32Array, events: number, revents: Int16Array, timeoutMs: number): number {
  const pfd = new Int32Array(fds.length * 2);
  const ev = new Int16Array(pfd.buffer);
  for (let i = 0; i < fds.length; i++) {
    pfd[i * 2] = fds[i]!;
    ev[i * 4 + 2] = events;
  }
  const n = Number(sym.poll(fds.length ? pfd : null, BigInt(fds.length), timeoutMs));
  if (n === -1) {
    const e = errno();
    if (e === 4 /* EINTR */) return 0;
    throw new SysError("poll", e);
  }
  for (let i = 0; i < fds.length; i++) revents[i] = ev[i * 4 + 3]!;
  return n;
}

export const MFD_CLOEXEC = 1;
export function memfdCreate(name: string, flags = MFD_CLOEXEC): number {
  return check("memfd_create", sym.memfd_create(cstr(name), flags), name);
}

export function setns(fd: number, nstype: number): void {
  check("setns", sym.setns(fd, nstype));
}

export function statfsType(path: string): bigint {
  const buf = new BigInt64Array(15);
  check("statfs", sym.statfs(cstr(path), buf), path);
  return BigInt.asUintN(64, buf[0]!);
}

// ---- sockets (netlink) ----
export function socket(domain: number, type: number, protocol: number): number {
  return check("socket", sym.socket(domain, type, protocol));
}
export function bind(fd: number, addr: Uint8Array): void {
  check("bind", sym.bind(fd, addr, addr.length));
}
export function sendto(fd: number, data: Uint8Array, flags: number, addr: Uint8Array | null): number {
  return check("sendto", sym.sendto(fd, data, BigInt(data.length), flags, addr, addr ? addr.length : 0));
}
export function recvfrom(fd: number, buf: Uint8Array, flags = 0): number {
  return check("recvfrom", sym.recvfrom(fd, buf, BigInt(buf.length), flags, null, null));
}
/** setsockopt with an int value (SO_REUSEADDR, NETLINK_EXT_ACK, ...). */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  check("setsockopt", sym.setsockopt(fd, level, name, Int32Array.of(value), 4));
}

// ---- unix sockets with fd passing (SCM_RIGHTS) ----
export const AF_UNIX = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;
const MSG_TRUNC = 0x20;
const MSG_CTRUNC = 0x8;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const CMSG_HEADER = 16; // struct cmsghdr { size_t len; int level; int type; } on 64-bit Linux
const MAX_PASSED_FDS = 8;

export function connectUnix(fd: number, path: string): void {
  const addr = Buffer.alloc(110);
  addr.writeUInt16LE(AF_UNIX, 0);
  if (addr.write(path, 2) !== Buffer.byteLength(path) || Buffer.byteLength(path) > 107) throw new SysError("connect", 36 /* ENAMETOOLONG */, path);
  check("connect", sym.connect(fd, addr, addr.length), path);
}

/** The peer's credentials (SO_PEERCRED: the listener's, as of listen(2), on a connected client socket). */
export function peerCredentials(fd: number): { pid: number; uid: number; gid: number } {
  const cred = new Int32Array(3);
  const len = Uint32Array.of(cred.byteLength);
  check("getsockopt", sym.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len));
  return { pid: cred[0]!, uid: cred[1]! >>> 0, gid: cred[2]! >>> 0 };
}

/*
 * struct msghdr holds pointers to the other buffers, so those are passed as addresses inside a buffer: they
 * stay referenced from `pinnedForMsg` until the call returns (see pinnedForSyscall).
 */
let pinnedForMsg: Uint8Array[] = [];
function msghdr(data: Uint8Array, control: Uint8Array | null): Buffer {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(BigInt(ptr(data)), 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const msg = Buffer.alloc(56); // name, namelen, iov, iovlen, control, controllen, flags
  msg.writeBigUInt64LE(BigInt(ptr(iov)), 16);
  msg.writeBigUInt64LE(1n, 24);
  if (control) {
    msg.writeBigUInt64LE(BigInt(ptr(control)), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
  }
  pinnedForMsg = [data, iov, msg, ...(control ? [control] : [])];
  return msg;
}

/** One message, with `fds` attached (SCM_RIGHTS); returns the bytes sent. Never raises SIGPIPE. */
export function sendWithFds(fd: number, data: Uint8Array, fds: number[] = [], flags = 0): number {
  let control: Buffer | null = null;
  if (fds.length) {
    control = Buffer.alloc(CMSG_HEADER + ((fds.length * 4 + 7) & ~7));
    control.writeBigUInt64LE(BigInt(CMSG_HEADER + fds.length * 4), 0);
    control.writeInt32LE(SOL_SOCKET, 8);
    control.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((f, i) => control!.writeInt32LE(f, CMSG_HEADER + i * 4));
  }
  try {
    return check("sendmsg", sym.sendmsg(fd, msghdr(data, control), flags | MSG_NOSIGNAL));
  } finally {
    pinnedForMsg = [];
  }
}

export interface ReceivedMessage {
  /** Bytes received into the buffer; 0 at end of file. */
  length: number;
  /** fds that came with it (already CLOEXEC), owned by the caller. */
  fds: number[];
  /** The message or its fds did not fit: the rest was discarded by the kernel. */
  truncated: boolean;
}

/** recvmsg(2) of one message into `buf`; null when nothing is there (EAGAIN with MSG_DONTWAIT). */
export function recvWithFds(fd: number, buf: Uint8Array, flags = 0): ReceivedMessage | null {
  const control = Buffer.alloc(CMSG_HEADER + MAX_PASSED_FDS * 4);
  const msg = msghdr(buf, control);
  let n: number;
  try {
    n = Number(sym.recvmsg(fd, msg, flags | MSG_CMSG_CLOEXEC));
  } finally {
    pinnedForMsg = [];
  }
  if (n === -1) {
    const e = errno();
    if (e === 11 /* EAGAIN */) return null;
    throw new SysError("recvmsg", e);
  }
  const fds: number[] = [];
  const controlLength = Number(msg.readBigUInt64LE(40));
  if (controlLength >= CMSG_HEADER && control.readInt32LE(8) === SOL_SOCKET && control.readInt32LE(12) === SCM_RIGHTS) {
    const count = (Number(control.readBigUInt64LE(0)) - CMSG_HEADER) / 4;
    for (let i = 0; i < count; i++) fds.push(control.readInt32LE(CMSG_HEADER + i * 4));
  }
  const msgFlags = msg.readInt32LE(48);
  return { length: n, fds, truncated: (msgFlags & (MSG_TRUNC | MSG_CTRUNC)) !== 0 };
}

export function readFd(fd: number, buf: Uint8Array): number {
  return check("read", sym.read(fd, buf, BigInt(buf.length)));
}
export function writeFd(fd: number, buf: Uint8Array): number {
  return check("write", sym.write(fd, buf, BigInt(buf.length)));
}
export function fcntl(fd: number, cmd: number, arg = 0): number {
  return check("fcntl", sym.fcntl(fd, cmd, BigInt(arg)));
}

export { CString };

export const LOCK_EX = 2;
export const LOCK_NB = 4;
/** Take an exclusive advisory lock on an open fd without waiting; false when another process holds it. */
export function tryLockExclusive(fd: number): boolean {
  if (sym.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const e = errno();
  if (e === 11 /* EWOULDBLOCK */) return false;
  throw new SysError("flock", e);
}
