/**
 * `COPY --chown=user[:group]` → numeric owner, docker's way: numbers are taken as they are, names are looked up
 * in the /etc/passwd and /etc/group of the image being built on (never the host's), and a missing group part
 * means "the same as the user part" (`--chown=app` is user app, group app).
 */
import { InvalidParameterError } from "../errors";
import type { ConfinedTree } from "./confined-tree";

export interface Owner {
  uid: number;
  gid: number;
}

const MAX_DATABASE = 4 * 1024 * 1024;
const NUMERIC = /^\d+$/;

function lookup(tree: ConfinedTree | null, file: "etc/passwd" | "etc/group", name: string, idField: number): number | null {
  const text = tree?.readText(file, MAX_DATABASE) ?? "";
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[idField] !== undefined && NUMERIC.test(fields[idField]!)) return Number(fields[idField]);
  }
  return null;
}

/** The owner named by a --chown value; `rootfs` is the image's root filesystem (null for an empty image). */
export function resolveOwner(spec: string, rootfs: ConfinedTree | null): Owner {
  const parts = spec.split(":");
  if (parts.length > 2 || parts.some((p) => p === "")) throw new InvalidParameterError(`invalid chown string format: ${spec}`);
  const user = parts[0]!;
  const group = parts[1] ?? user;
  const uid = NUMERIC.test(user) ? Number(user) : lookup(rootfs, "etc/passwd", user, 2);
  if (uid === null) throw new InvalidParameterError(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${user}: no such user: ${user}`);
  const gid = NUMERIC.test(group) ? Number(group) : lookup(rootfs, "etc/group", group, 2);
  if (gid === null) throw new InvalidParameterError(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${group}: no such group: ${group}`);
  return { uid, gid };
}
