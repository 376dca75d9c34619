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
  getpid: { args: [], returns: i32 },
  statfs: { args: [P, P], returns: i32 },
  lchown: { args: [P, u32(), u32()], returns: i32 },
  utimensat: { args: [i32, P, P, i32], returns: i32 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  waitpid: { args: [i32, P, i32], returns: i32 },
  flock: { args: [i32, i32], returns: i32 },
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

function optCstr(s: string | null | undefined): Pointer | null {
  return s == null ? null : ptr(cstr(s));
}

// ---- mounts ----
export const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096, MOVE: 8192, REC: 16384,
  PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, STRICTATIME: 1 << 24,
} as const;
export const MNT_DETACH = 2;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  const keep = [source, target, fstype, data].map((s) => (s == null ? null : cstr(s)));
  check("mount", sym.mount(keep[0] ? ptr(keep[0]) : null, ptr(keep[1]!), keep[2] ? ptr(keep[2]) : null, BigInt(flags), keep[3] ? ptr(keep[3]) : null), target);
}

export function umount(target: string, flags = 0): void {
  check("umount2", sym.umount2(ptr(cstr(target)), flags), target);
}

// ---- files ----
export const S_IFCHR = 0o020000;
export function makedev(major: number, minor: number): bigint {
  return BigInt(((major & 0xfff) << 8) | (minor & 0xff) | ((minor & ~0xff) << 12));
}

export function mknod(path: string, mode: number, dev: bigint): void {
  check("mknod", sym.mknod(ptr(cstr(path)), BigInt(mode), dev), path);
}

export function lsetxattr(path: string, name: string, value: Uint8Array, flags = 0): void {
  const v = value.length ? ptr(value) : optCstr("");
  check("lsetxattr", sym.lsetxattr(ptr(cstr(path)), ptr(cstr(name)), v, BigInt(value.length), flags), `${path} ${name}`);
}

/** Returns null when the attribute does not exist. */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const buf = new Uint8Array(65536);
  const n = Number(sym.lgetxattr(ptr(cstr(path)), ptr(cstr(name)), ptr(buf), BigInt(buf.length)));
  if (n === -1) {
    const e = errno();
    if (e === 61 /* ENODATA */ || e === 95 /* EOPNOTSUPP */) return null;
    throw new SysError("lgetxattr", e, `${path} ${name}`);
  }
  return buf.slice(0, n);
}

export function llistxattr(path: string): string[] {
  const buf = new Uint8Array(65536);
  const n = Number(sym.llistxattr(ptr(cstr(path)), ptr(buf), BigInt(buf.length)));
  if (n === -1) {
    const e = errno();
    if (e === 95) return [];
    throw new SysError("llistxattr", e, path);
  }
  return new TextDecoder().decode(buf.subarray(0, n)).split("\0").filter(Boolean);
}

export function lchown(path: string, uid: number, gid: number): void {
  check("lchown", sym.lchown(ptr(cstr(path)), uid, gid), path);
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
  check("utimensat", sym.utimensat(AT_FDCWD, ptr(cstr(path)), ptr(ts), AT_SYMLINK_NOFOLLOW), path);
}

export const O = { RDONLY: 0, WRONLY: 1, RDWR: 2, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400, TRUNC: 0o1000, NONBLOCK: 0o4000, DIRECTORY: 0o200000, NOFOLLOW: 0o400000, CLOEXEC: 0o2000000, PATH: 0o10000000 } as const;

export function open(path: string, flags: number, mode = 0): number {
  return check("open", sym.open(ptr(cstr(path)), flags, BigInt(mode)), path);
}

export function close(fd: number): void {
  check("close", sym.close(fd));
}

export function ioctl(fd: number, request: number | bigint, arg: Uint8Array | null): number {
  return check("ioctl", sym.ioctl(fd, BigInt(request), arg ? ptr(arg) : null));
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
  const r = check("waitpid", sym.waitpid(pid, ptr(status), options));
  return [r, status[0]!];
}

/** Decode a wait status the way docker reports it: exit code, or 128+signal. */
export function exitCodeOfStatus(status: number): number {
  const sig = status & 0x7f;
  if (sig === 0) return (status >> 8) & 0xff;
  return 128 + sig;
}

export const SYS = { pidfd_open: 434, pivot_root: 155, fsopen: 430, fsconfig: 431, fsmount: 432, move_mount: 429, close_range: 436, openat2: 437 } as const;

export function syscall(nr: number, ...args: (number | bigint | Pointer | null)[]): number {
  const a = [...args.map((x) => (x == null ? 0n : typeof x === "bigint" ? x : BigInt(x as number))), 0n, 0n, 0n, 0n, 0n, 0n].slice(0, 6) as bigint[];
  return check(`syscall(${nr})`, sym.syscall(BigInt(nr), a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!));
}

export function setns(fd: number, nstype: number): void {
  check("setns", sym.setns(fd, nstype));
}

export function statfsType(path: string): bigint {
  const buf = new BigInt64Array(15);
  check("statfs", sym.statfs(ptr(cstr(path)), ptr(buf)), path);
  return BigInt.asUintN(64, buf[0]!);
}

// ---- sockets (netlink) ----
export function socket(domain: number, type: number, protocol: number): number {
  return check("socket", sym.socket(domain, type, protocol));
}
export function bind(fd: number, addr: Uint8Array): void {
  check("bind", sym.bind(fd, ptr(addr), addr.length));
}
export function sendto(fd: number, data: Uint8Array, flags: number, addr: Uint8Array | null): number {
  return check("sendto", sym.sendto(fd, ptr(data), BigInt(data.length), flags, addr ? ptr(addr) : null, addr ? addr.length : 0));
}
export function recvfrom(fd: number, buf: Uint8Array, flags = 0): number {
  return check("recvfrom", sym.recvfrom(fd, ptr(buf), BigInt(buf.length), flags, null, null));
}
/** setsockopt with an int value (SO_REUSEADDR, NETLINK_EXT_ACK, ...). */
export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  check("setsockopt", sym.setsockopt(fd, level, name, ptr(Int32Array.of(value)), 4));
}
export function readFd(fd: number, buf: Uint8Array): number {
  return check("read", sym.read(fd, ptr(buf), BigInt(buf.length)));
}
export function writeFd(fd: number, buf: Uint8Array): number {
  return check("write", sym.write(fd, ptr(buf), BigInt(buf.length)));
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
