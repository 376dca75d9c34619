/**
 * `docker run --device`: host device nodes → the nodes made in the container and the cgroup rules that let it
 * use them. Checked at create and resolved again at every start (a host's device numbers can change).
 */
import { lstatSync, readdirSync, statSync, type BigIntStats } from "node:fs";
import { join, posix } from "node:path";
import type { DeviceRule } from "../../drivers/exec/cgroups";
import { splitDevice } from "../archive/tar-entries";
import type { DeviceNode } from "../../drivers/exec/spec";
import { InvalidParameterError } from "../errors";
import type { DeviceMapping } from "./types";

export interface ContainerDevices {
  nodes: DeviceNode[];
  /** Added to the default rules (a privileged container gets every device anyway). */
  rules: DeviceRule[];
}

function gatherError(path: string, reason: string): InvalidParameterError {
  return new InvalidParameterError(`error gathering device information while adding custom device "${path}": ${reason}`);
}

function nodeOf(st: BigIntStats, hostPath: string, path: string): DeviceNode | null {
  const type = st.isCharacterDevice() ? "c" : st.isBlockDevice() ? "b" : null;
  if (!type) return null;
  return { path, type, ...splitDevice(st.rdev), mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), hostPath };
}

/** Every device node below a host directory (docker's `--device /dev/snd`), symlinks left out. */
function nodesBelow(hostDir: string, containerDir: string): DeviceNode[] {
  const entries = readdirSync(hostDir, { recursive: true, encoding: "utf8" }).sort();
  return entries.flatMap((entry) => {
    const hostPath = join(hostDir, entry);
    const node = nodeOf(lstatSync(hostPath, { bigint: true }), hostPath, posix.join(containerDir, entry));
    return node ? [node] : [];
  });
}

/** Throws docker's errors (400) for a missing host path, a file that is not a device, or bad permissions. */
export function resolveDevices(mappings: readonly DeviceMapping[] | null | undefined): ContainerDevices {
  const out: ContainerDevices = { nodes: [], rules: [] };
  for (const m of mappings ?? []) {
    const access = m.CgroupPermissions || "rwm";
    if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) throw new InvalidParameterError(`invalid device mode: ${m.CgroupPermissions}`);
    const inContainer = m.PathInContainer || m.PathOnHost;
    if (!posix.isAbsolute(inContainer)) throw new InvalidParameterError(`${inContainer} is not an absolute path`);
    let st: BigIntStats;
    try {
      st = statSync(m.PathOnHost, { bigint: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw gatherError(m.PathOnHost, code === "ENOENT" ? "no such file or directory" : (err as Error).message);
    }
    const node = nodeOf(st, m.PathOnHost, posix.normalize(inContainer));
    const nodes = node ? [node] : st.isDirectory() ? nodesBelow(m.PathOnHost, posix.normalize(inContainer)) : null;
    if (!nodes) throw gatherError(m.PathOnHost, "not a device node");
    for (const n of nodes) {
      out.nodes.push(n);
      out.rules.push({ allow: true, type: n.type, major: n.major, minor: n.minor, access });
    }
  }
  return out;
}
