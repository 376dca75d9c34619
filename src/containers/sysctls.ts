/**
 * `--sysctl`: only sysctls that live in a namespace the container owns may be set (docker's and runc's rule);
 * anything else would change the host. net.* belongs to the network namespace, so not with `--network host`.
 */
import { InvalidParameterError } from "../errors";

const IPC_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

export function checkSysctls(sysctls: Record<string, string>, networkMode: string): void {
  for (const name of Object.keys(sysctls)) {
    if (IPC_SYSCTLS.has(name) || name.startsWith("fs.mqueue.")) continue;
    if (name.startsWith("net.")) {
      if (networkMode === "host") throw new InvalidParameterError(`sysctl "${name}" not allowed in host network namespace`);
      if (networkMode.startsWith("container:")) throw new InvalidParameterError(`sysctl "${name}" cannot be set: the network namespace belongs to another container`);
      continue;
    }
    throw new InvalidParameterError(`sysctl "${name}" is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*) can be set`);
  }
}
