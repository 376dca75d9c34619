/**
 * A minimal real root filesystem for container tests: /bin/busybox (static) with one symlink per applet,
 * /etc/passwd and /etc/group, and the usual empty directories.
 */
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";

export const BUSYBOX = "/bin/busybox";

export function makeBusyboxRootfs(root: string): string {
  for (const dir of ["bin", "etc", "tmp", "root", "proc", "sys", "dev"]) mkdirSync(join(root, dir), { recursive: true });
  chmodSync(join(root, "tmp"), 0o1777);
  copyFileSync(BUSYBOX, join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  const applets = Bun.spawnSync([BUSYBOX, "--list"]).stdout.toString().split("\n").filter((a) => a && a !== "busybox");
  for (const applet of applets) symlinkSync("busybox", join(root, "bin", applet));
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n");
  writeFileSync(join(root, "etc/group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  return root;
}
