/**
 * A directory that paths are resolved inside, by the kernel, as if it were "/": openat2(RESOLVE_IN_ROOT) makes
 * absolute symlinks and ".." stop at the root, so nothing in the tree (a symlink an earlier entry or layer put
 * there) can lead a later operation outside it. Operations then name their target as `/proc/self/fd/<dir>/<name>`:
 * the directory is the one already resolved and held open, and only a plain final name is looked up, by calls that
 * do not follow a final symlink. This is the "resolve within the root" policy Docker gets by chrooting into the
 * layer: a symlinked parent is followed, but it can only ever reach places inside the root.
 */
import { close, O, open, openat2, RESOLVE, SysError } from "../../drivers/libc/libc";
import { mkdirSync } from "node:fs";

const DIR_FLAGS = O.PATH | O.DIRECTORY | O.CLOEXEC;
const RESOLVE_FLAGS = RESOLVE.IN_ROOT | RESOLVE.NO_MAGICLINKS | RESOLVE.NO_XDEV;
const EAGAIN = 11;
const ENOENT = 2;

export class ConfinedRoot {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = open(path, DIR_FLAGS);
  }

  close(): void {
    close(this.fd);
  }

  /** Path naming `name` inside the open directory `dirFd`; the final component is not resolved through anything. */
  static at(dirFd: number, name: string): string {
    return `/proc/self/fd/${dirFd}/${name}`;
  }

  /** Path naming the open directory `dirFd` itself (not the /proc magic link). */
  static self(dirFd: number): string {
    return `/proc/self/fd/${dirFd}/.`;
  }

  /**
   * An O_PATH fd of the directory at `components` (cleaned, no ".."), resolved inside the root. Missing
   * directories are created (0755) when `create` is set, otherwise null is returned for them. The caller closes
   * the fd. Throws SysError for anything else (ENOTDIR, ELOOP, a dangling symlink that cannot be created through).
   */
  openDir(components: readonly string[], create: boolean): number | null {
    try {
      return this.resolve(components);
    } catch (err) {
      if (!(err instanceof SysError && err.errno === ENOENT)) throw err;
      if (!create) return null;
    }
    let dirFd = this.resolve([]);
    try {
      for (let i = 0; i < components.length; i++) {
        const prefix = components.slice(0, i + 1);
        let next: number;
        try {
          next = this.resolve(prefix);
        } catch (err) {
          if (!(err instanceof SysError && err.errno === ENOENT)) throw err;
          // Created in the directory the previous prefix resolved to, so a symlinked ancestor stays in the root.
          // If the name is a dangling symlink this fails with EEXIST, which is what we want.
          mkdirSync(ConfinedRoot.at(dirFd, components[i]!), 0o755);
          next = this.resolve(prefix);
        }
        close(dirFd);
        dirFd = next;
      }
      return dirFd;
    } catch (err) {
      close(dirFd);
      throw err;
    }
  }

  private resolve(components: readonly string[]): number {
    const rel = components.length === 0 ? "." : components.join("/");
    for (let attempt = 0; ; attempt++) {
      try {
        return openat2(this.fd, rel, DIR_FLAGS, RESOLVE_FLAGS);
      } catch (err) {
        // The kernel asks for a retry when a rename raced with a ".."-safe lookup.
        if (err instanceof SysError && err.errno === EAGAIN && attempt < 16) continue;
        throw err;
      }
    }
  }
}
