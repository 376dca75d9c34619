/**
 * Network namespaces seen from the daemon. The daemon may enter another network namespace only for a
 * synchronous stretch of code on the JS thread and must be back before anything else runs (ARCHITECTURE.md
 * hard rule 1): an `await` inside would let unrelated JS run in the container's namespace, and Bun's other
 * threads never move at all.
 */
import { close, O, open, setns } from "../libc/libc";

const CLONE_NEWNET = 0x40000000;

/** An open namespace fd (the caller keeps ownership) or a path such as `/proc/<pid>/ns/net` or `/run/netns/x`. */
export type NetnsRef = number | string;

/** Resolve a NetnsRef to an fd for the duration of `fn`; a path is opened and closed here. */
export function withNetnsFd<T>(netns: NetnsRef, fn: (fd: number) => T): T {
  if (typeof netns === "number") return fn(netns);
  const fd = open(netns, O.RDONLY | O.CLOEXEC);
  try {
    return fn(fd);
  } finally {
    close(fd);
  }
}

export class NetnsSwitchBackError extends Error {
  constructor(cause: unknown) {
    super("could not return the JS thread to its own network namespace; the daemon must not continue", { cause });
    this.name = "NetnsSwitchBackError";
  }
}

/**
 * Run the synchronous `fn` with the JS thread inside `netns`, then always switch back. Sockets created in
 * `fn` stay bound to that namespace after the switch back, which is how netlink sockets for a container are
 * made. Throws if `fn` returns a promise: its continuation would run in whatever namespace is current later.
 */
export function inNetns<T>(netns: NetnsRef, fn: () => T): T {
  const home = open("/proc/thread-self/ns/net", O.RDONLY | O.CLOEXEC);
  try {
    return withNetnsFd(netns, (target) => {
      setns(target, CLONE_NEWNET);
      try {
        const result = fn();
        if (result instanceof Promise) {
          result.catch(() => {});
          throw new TypeError("inNetns callback must be synchronous (it returned a promise)");
        }
        return result;
      } finally {
        try {
          setns(home, CLONE_NEWNET);
        } catch (err) {
          // Staying in the wrong namespace is worse than losing fn's own error.
          throw new NetnsSwitchBackError(err);
        }
      }
    });
  } finally {
    close(home);
  }
}
