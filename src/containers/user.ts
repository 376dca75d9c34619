/**
 * `--user uid[:gid]` / `name[:group]` and `--group-add`, resolved by reading the image's /etc/passwd and
 * /etc/group inside the container's root filesystem — never through the host's NSS, and with the paths resolved
 * by the kernel inside the root (openat2 RESOLVE_IN_ROOT) so an image's symlinks cannot point at host files.
 */
import { fstatSync, readSync } from "node:fs";
import { close, O, open, openat2, RESOLVE, SysError } from "../../drivers/libc/libc";
import { InvalidParameterError } from "../errors";

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

const MAX_DATABASE_SIZE = 4 * 1024 * 1024;
const ENOENT = 2;

/** A regular file inside `root`, or "" when it does not exist. */
export function readFileInRoot(root: string, path: string): string {
  const rootFd = open(root, O.PATH | O.DIRECTORY | O.CLOEXEC);
  let fd: number;
  try {
    fd = openat2(rootFd, path, O.RDONLY | O.CLOEXEC | O.NONBLOCK, RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS);
  } catch (err) {
    if (err instanceof SysError && err.errno === ENOENT) return "";
    throw err;
  } finally {
    close(rootFd);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return "";
    const buf = Buffer.alloc(Math.min(st.size, MAX_DATABASE_SIZE));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString("utf8");
  } finally {
    close(fd);
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

function rows(text: string): string[][] {
  return text.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#")).map((l) => l.split(":"));
}

export function parsePasswd(text: string): PasswdEntry[] {
  return rows(text).filter((f) => f.length >= 4).map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || "/" }));
}

export function parseGroup(text: string): GroupEntry[] {
  return rows(text).filter((f) => f.length >= 3).map((f) => ({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? "").split(",").filter(Boolean) }));
}

const isNumeric = (s: string) => /^\d+$/.test(s);
const MAX_ID = 2 ** 31 - 1;

function checkId(n: number, what: string): number {
  if (n > MAX_ID) throw new InvalidParameterError(`${what} ${n} is out of range`);
  return n;
}

/** Docker's rules (runc's GetExecUser): a numeric user need not exist; a name must; supplementary groups only without an explicit group. */
export function resolveUserFrom(passwdText: string, groupText: string, spec: string, groupAdd: readonly string[]): ResolvedUser {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  const [userPart = "", groupPart] = spec.split(":", 2) as [string, string?];
  let matched: PasswdEntry | undefined;
  let uid = 0;
  let gid = 0;
  let home = "/";
  if (userPart === "") {
    matched = passwd.find((p) => p.uid === 0);
  } else if (isNumeric(userPart)) {
    uid = checkId(Number(userPart), "uid");
    matched = passwd.find((p) => p.uid === uid);
  } else {
    matched = passwd.find((p) => p.name === userPart);
    if (!matched) throw new InvalidParameterError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (matched) {
    uid = matched.uid;
    gid = matched.gid;
    home = matched.home;
  }
  let additionalGids: number[] = [];
  if (groupPart !== undefined && groupPart !== "") {
    if (isNumeric(groupPart)) gid = checkId(Number(groupPart), "gid");
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new InvalidParameterError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  } else if (matched) {
    additionalGids = groups.filter((g) => g.members.includes(matched.name)).map((g) => g.gid);
  }
  for (const extra of groupAdd) {
    if (isNumeric(extra)) additionalGids.push(checkId(Number(extra), "gid"));
    else {
      const g = groups.find((e) => e.name === extra);
      if (!g) throw new InvalidParameterError(`Unable to find group ${extra}: no matching entries in group file`);
      additionalGids.push(g.gid);
    }
  }
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home };
}

export function resolveUser(rootfs: string, spec: string, groupAdd: readonly string[]): ResolvedUser {
  return resolveUserFrom(readFileInRoot(rootfs, "/etc/passwd"), readFileInRoot(rootfs, "/etc/group"), spec, groupAdd);
}
