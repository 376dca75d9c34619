/**
 * Installing the Debian packages a comparison needs (docker.io, crun), only when the run allows it (--with-docker or
 * BENCH_DOCKER=1). Services are kept from starting (policy-rc.d) so nothing touches the host's daemons or network.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";

async function run(argv: string[]): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(argv, { env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, output: stderr + stdout };
}

/** apt-get install `packages`; returns null on success, else why it failed. */
export async function aptInstall(packages: string[], log: (message: string) => void): Promise<string | null> {
  if (process.getuid?.() !== 0) return `installing ${packages.join(" ")} needs root`;
  if (!Bun.which("apt-get")) return `installing ${packages.join(" ")} needs apt-get`;
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  try {
    const install = () => run(["apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages]);
    log(`installing ${packages.join(" ")} with apt-get (this takes a while)`);
    let result = await install();
    if (result.code !== 0) {
      log("apt-get install failed; running apt-get update and trying once more");
      await run(["apt-get", "update", "-q"]);
      result = await install();
      if (result.code !== 0) return `apt-get install ${packages.join(" ")} failed:\n${result.output.split("\n").slice(-15).join("\n")}`;
    }
    return null;
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}
