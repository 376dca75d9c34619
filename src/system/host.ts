import { existsSync, readFileSync } from "node:fs";
import os from "node:os";

/** Facts about the host that `docker version` / `docker info` report. */
export interface HostFacts {
  kernelVersion: string;
  operatingSystem: string;
  osVersion: string;
  architecture: string;
  ncpu: number;
  memTotal: number;
  hostname: string;
}

function osRelease(): Record<string, string> {
  for (const p of ["/etc/os-release", "/usr/lib/os-release"]) {
    if (!existsSync(p)) continue;
    const out: Record<string, string> = {};
    for (const line of readFileSync(p, "utf8").split("\n")) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line);
      if (m) out[m[1]!] = m[2]!.replace(/^"(.*)"$/, "$1");
    }
    return out;
  }
  return {};
}

/** Go's GOARCH names, which is what docker clients expect. */
export function goArch(arch: string = process.arch): string {
  return ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<string, string>)[arch] ?? arch;
}

export function hostFacts(): HostFacts {
  const rel = osRelease();
  return {
    kernelVersion: os.release(),
    operatingSystem: rel.PRETTY_NAME ?? "Linux",
    osVersion: rel.VERSION_ID ?? "",
    architecture: os.machine(),
    ncpu: os.cpus().length,
    memTotal: os.totalmem(),
    hostname: os.hostname(),
  };
}
