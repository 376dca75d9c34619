/**
 * The launch config blob the C launcher reads: a header (magic, total length) and a flat list of records
 * (u32 tag, u32 payload length, payload padded to 8 bytes), little-endian. One self-contained buffer, so
 * the C side can copy it before clone and a keeper can later receive the same bytes over a socket.
 * Tags, option bits and step numbers mirror the enums in native/prelude.c.
 */
import { posix } from "node:path";
import type { ContainerSpec, DeviceNode, ExecSpec, Mount, NamespaceMode, ProcessSpec, Propagation, RlimitName } from "./spec";
import { DEFAULT_MASKED_PATHS, DEFAULT_NAMESPACES, DEFAULT_READONLY_PATHS } from "./spec";
import { concatBytes } from "../util/bytes";

export const BLOB_MAGIC = 0x314c4b42; // "BKL1"

const Tag = {
  ROOTFS: 1, CLONE_FLAGS: 2, OPTIONS: 3, JOIN_NS: 4, HOSTNAME: 5, DOMAINNAME: 6, MOUNT: 7, MASK: 8, READONLY: 9,
  SYSCTL: 10, RLIMIT: 11, USER: 12, GROUPS: 13, CAPS: 14, SECCOMP: 15, ARG: 16, ENV: 17, CWD: 18,
  CGROUP_JOIN: 19, TARGET_PID: 20, SHM_SIZE: 21, WINSIZE: 22, TARGET_PIDFD: 23, DEVICE: 24,
} as const;

const Option = {
  TTY: 1, STDIN: 2, READONLY_ROOT: 4, NO_NEW_PRIVS: 8, BIND_SYS: 16, SYS_RW: 32, NEW_CGROUPNS: 64, MAKE_CWD: 128,
} as const;

const CLONE = { NEWNS: 0x20000, NEWUTS: 0x04000000, NEWIPC: 0x08000000, NEWPID: 0x20000000, NEWNET: 0x40000000 } as const;

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const MS = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, BIND: 4096, REC: 16384, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20 } as const;

const PROPAGATION: Record<Propagation, number> = {
  private: MS.PRIVATE, rprivate: MS.PRIVATE | MS.REC, shared: MS.SHARED, rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE, rslave: MS.SLAVE | MS.REC,
};

const RLIMIT: Record<RlimitName, number> = {
  cpu: 0, fsize: 1, data: 2, stack: 3, core: 4, rss: 5, nproc: 6, nofile: 7, memlock: 8, as: 9, locks: 10,
  sigpending: 11, msgqueue: 12, nice: 13, rtprio: 14, rttime: 15,
};

const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;
const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** The spec cannot be encoded (a NUL inside a string, a relative path, ...). */
export class LaunchConfigError extends Error {
  override name = "LaunchConfigError";
}

class BlobWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 8;

  record(tag: number, payload: Uint8Array): void {
    const padded = (payload.length + 7) & ~7;
    const rec = new Uint8Array(8 + padded);
    const view = new DataView(rec.buffer);
    view.setUint32(0, tag, true);
    view.setUint32(4, payload.length, true);
    rec.set(payload, 8);
    this.parts.push(rec);
    this.length += rec.length;
  }

  strings(tag: number, ...values: string[]): void {
    this.record(tag, concatBytes(values.map(cstring)));
  }

  words(tag: number, u32s: number[], u64s: bigint[] = []): void {
    const buf = new Uint8Array(u32s.length * 4 + (u32s.length % 2) * 4 + u64s.length * 8);
    const view = new DataView(buf.buffer);
    u32s.forEach((v, i) => view.setUint32(i * 4, v >>> 0, true));
    const base = buf.length - u64s.length * 8;
    u64s.forEach((v, i) => view.setBigUint64(base + i * 8, BigInt.asUintN(64, v), true));
    this.record(tag, buf);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, BLOB_MAGIC, true);
    view.setUint32(4, this.length, true);
    let at = 8;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function cstring(s: string): Uint8Array {
  if (s.includes("\0")) throw new LaunchConfigError(`string contains a NUL byte: ${JSON.stringify(s)}`);
  const bytes = new TextEncoder().encode(s);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Absolute, normalized, and not the root itself. */
function containerPath(p: string, what: string): string {
  if (!p.startsWith("/")) throw new LaunchConfigError(`${what} must be an absolute path: ${JSON.stringify(p)}`);
  const normalized = posix.normalize(p).replace(/\/+$/, "");
  if (normalized === "") throw new LaunchConfigError(`${what} cannot be "/"`);
  return normalized;
}

function depth(p: string): number {
  return p.split("/").length;
}

function encodeProcess(w: BlobWriter, spec: ProcessSpec, options: number): number {
  if (spec.args.length === 0) throw new LaunchConfigError("no command given");
  for (const a of spec.args) w.strings(Tag.ARG, a);
  for (const e of spec.env) w.strings(Tag.ENV, e);
  if (!spec.cwd.startsWith("/")) throw new LaunchConfigError(`cwd must be an absolute path: ${JSON.stringify(spec.cwd)}`);
  w.strings(Tag.CWD, posix.normalize(spec.cwd));
  if (spec.user) w.words(Tag.USER, [spec.user.uid, spec.user.gid]);
  // Always set: the daemon's own supplementary groups must not leak into the container.
  const groups = spec.user?.additionalGids ?? [];
  w.words(Tag.GROUPS, [groups.length, ...groups]);
  const caps = spec.capabilities;
  w.words(Tag.CAPS, [], [caps.effective, caps.permitted, caps.inheritable, caps.bounding]);
  if (spec.seccomp) {
    if (spec.seccomp.length === 0 || spec.seccomp.length % 8 !== 0 || spec.seccomp.length / 8 > 0xffff)
      throw new LaunchConfigError(`seccomp program must be 1..65535 sock_filter entries of 8 bytes`);
    w.record(Tag.SECCOMP, spec.seccomp);
  }
  for (const r of spec.rlimits ?? []) {
    const resource = RLIMIT[r.type];
    if (resource === undefined) throw new LaunchConfigError(`unknown rlimit ${JSON.stringify(r.type)}`);
    const limit = (v: number | bigint) => (BigInt(v) === -1n ? RLIM_INFINITY : BigInt(v));
    w.words(Tag.RLIMIT, [resource], [limit(r.soft), limit(r.hard)]);
  }
  if (spec.consoleSize) w.record(Tag.WINSIZE, new Uint8Array(new Uint16Array([spec.consoleSize.rows, spec.consoleSize.cols]).buffer));
  for (const path of spec.cgroupJoin ?? []) w.strings(Tag.CGROUP_JOIN, path);
  return (
    options |
    (spec.tty ? Option.TTY : 0) |
    (spec.openStdin ? Option.STDIN : 0) |
    (spec.noNewPrivileges ? Option.NO_NEW_PRIVS : 0)
  );
}

function mountRecord(w: BlobWriter, m: Mount): void {
  const destination = containerPath(m.destination, "mount destination");
  let flags = (m.readonly ? MS.RDONLY : 0) | (m.nosuid ? MS.NOSUID : 0) | (m.nodev ? MS.NODEV : 0) | (m.noexec ? MS.NOEXEC : 0);
  let propagation = 0;
  let source: string, fstype: string, data: string;
  if (m.type === "bind") {
    if (!m.source.startsWith("/")) throw new LaunchConfigError(`bind source must be an absolute path: ${JSON.stringify(m.source)}`);
    flags |= MS.BIND | (m.recursive === false ? 0 : MS.REC);
    propagation = m.propagation ? PROPAGATION[m.propagation] : 0;
    [source, fstype, data] = [m.source, "", ""];
  } else {
    [source, fstype, data] = ["tmpfs", "tmpfs", m.data ?? ""];
  }
  const payload = concatBytes([new Uint8Array(new BigUint64Array([BigInt(flags), BigInt(propagation)]).buffer), ...[source, destination, fstype, data].map(cstring)]);
  w.record(Tag.MOUNT, payload);
}

/** u32 file type + mode, major, minor, uid, gid (padded to 24 bytes), then the container path and the host path. */
function deviceRecord(w: BlobWriter, d: DeviceNode): void {
  const path = containerPath(d.path, "device path");
  if (!d.hostPath.startsWith("/")) throw new LaunchConfigError(`device host path must be absolute: ${JSON.stringify(d.hostPath)}`);
  const mode = (d.type === "c" ? S_IFCHR : S_IFBLK) | (d.mode & 0o7777);
  const fixed = new Uint8Array(new Uint32Array([mode, d.major, d.minor, d.uid, d.gid, 0]).buffer);
  w.record(Tag.DEVICE, concatBytes([fixed, cstring(path), cstring(d.hostPath)]));
}

function namespaceFlag(mode: NamespaceMode, flag: number, nstype: number, w: BlobWriter): number {
  if (mode === "private") return flag;
  if (mode !== "host") w.record(Tag.JOIN_NS, concatBytes([new Uint8Array(new Uint32Array([nstype, 0]).buffer), cstring(mode.path)]));
  return 0;
}

/** The blob for a container's first process. */
export function encodeContainer(spec: ContainerSpec): Uint8Array {
  const w = new BlobWriter();
  const ns = { ...DEFAULT_NAMESPACES, ...spec.namespaces };
  if (!spec.rootfs.startsWith("/")) throw new LaunchConfigError(`rootfs must be an absolute path: ${JSON.stringify(spec.rootfs)}`);
  w.strings(Tag.ROOTFS, spec.rootfs);
  const cloneFlags =
    CLONE.NEWNS |
    (ns.pid === "private" ? CLONE.NEWPID : 0) |
    namespaceFlag(ns.network, CLONE.NEWNET, CLONE.NEWNET, w) |
    namespaceFlag(ns.ipc, CLONE.NEWIPC, CLONE.NEWIPC, w) |
    namespaceFlag(ns.uts, CLONE.NEWUTS, CLONE.NEWUTS, w);
  w.words(Tag.CLONE_FLAGS, [], [BigInt(cloneFlags)]);
  if (spec.hostname !== undefined) {
    if (ns.uts !== "private") throw new LaunchConfigError("a hostname needs a private UTS namespace");
    w.strings(Tag.HOSTNAME, spec.hostname);
  }
  if (spec.domainname !== undefined) w.strings(Tag.DOMAINNAME, spec.domainname);

  const etc = spec.etcFiles ?? {};
  const etcMounts: Mount[] = (
    [["/etc/hostname", etc.hostname], ["/etc/hosts", etc.hosts], ["/etc/resolv.conf", etc.resolvConf]] as const
  ).flatMap(([destination, source]) => (source ? [{ type: "bind" as const, source, destination, recursive: false }] : []));
  // Parents before children (docker sorts by destination depth); the sort is stable for equal depths.
  const mounts = [...(spec.mounts ?? []), ...etcMounts].sort((a, b) => depth(containerPath(a.destination, "mount destination")) - depth(containerPath(b.destination, "mount destination")));
  for (const m of mounts) mountRecord(w, m);

  for (const p of spec.maskedPaths ?? (spec.privileged ? [] : DEFAULT_MASKED_PATHS)) w.strings(Tag.MASK, containerPath(p, "masked path"));
  for (const p of spec.readonlyPaths ?? (spec.privileged ? [] : DEFAULT_READONLY_PATHS)) w.strings(Tag.READONLY, containerPath(p, "read-only path"));
  for (const [name, value] of Object.entries(spec.sysctls ?? {})) {
    if (!/^[A-Za-z0-9_.\-]+$/.test(name) || name.includes("..")) throw new LaunchConfigError(`invalid sysctl name ${JSON.stringify(name)}`);
    w.strings(Tag.SYSCTL, name.replaceAll(".", "/"), value);
  }
  w.words(Tag.SHM_SIZE, [], [BigInt(spec.shmSize ?? DEFAULT_SHM_SIZE)]);
  for (const d of spec.devices ?? []) deviceRecord(w, d);
  const options =
    Option.MAKE_CWD |
    (spec.readonlyRootfs ? Option.READONLY_ROOT : 0) |
    (ns.network === "host" ? Option.BIND_SYS : 0) |
    (spec.privileged ? Option.SYS_RW : 0) |
    (ns.cgroup === "private" ? Option.NEW_CGROUPNS : 0);
  w.words(Tag.OPTIONS, [encodeProcess(w, spec, options)]);
  return w.finish();
}

/**
 * The blob for `docker exec` into the container whose init is `targetPid`. `targetPidfd`, an fd of this
 * process referring to it, lets the launcher prove the pid was not recycled.
 */
export function encodeExec(targetPid: number, spec: ExecSpec, targetPidfd: number | null): Uint8Array {
  if (!Number.isInteger(targetPid) || targetPid <= 0) throw new LaunchConfigError(`invalid target pid ${targetPid}`);
  const w = new BlobWriter();
  w.words(Tag.TARGET_PID, [targetPid]);
  if (targetPidfd !== null) w.words(Tag.TARGET_PIDFD, [targetPidfd]);
  w.words(Tag.OPTIONS, [encodeProcess(w, spec, 0)]);
  return w.finish();
}
