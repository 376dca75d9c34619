import { closeSync, openSync, readFileSync, writeFileSync, ftruncateSync, writeSync } from "node:fs";
import { tryLockExclusive } from "../../drivers/libc/libc";
import { ConflictError } from "../errors";

/**
 * One daemon per data root: an flock on `<root>/bunker.lock` held for the daemon's lifetime (released by
 * the kernel however the process ends), with the owner's pid written inside for the error message.
 */
export class DataRootLock {
  private constructor(private fd: number | null) {}

  static acquire(lockPath: string, dataRoot: string): DataRootLock {
    const fd = openSync(lockPath, "a+", 0o600);
    if (!tryLockExclusive(fd)) {
      closeSync(fd);
      const owner = readFileSync(lockPath, "utf8").trim();
      throw new ConflictError(`another bunker daemon (pid ${owner || "unknown"}) is already using data root ${dataRoot}; stop it first or use a different --data-root`);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    return new DataRootLock(fd);
  }

  release(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

export function writePidfile(path: string): void {
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
}
