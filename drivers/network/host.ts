/**
 * The network namespace the driver programs as "the host": normally the daemon's own, but tests (and a
 * daemon confined to a namespace) point it at another one. Firewall tools run there and sysctls are
 * written there; sysctls under /proc/sys/net belong to the namespace of the thread that opens them.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { inNetns, type NetnsRef } from "./netns";

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.join(" ")} exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = "CommandError";
  }
}

export interface NetHost {
  /** Run a tool in this namespace; `stdin` is fed to it. Does not throw on a non-zero exit. */
  run(argv: string[], stdin?: string): Promise<CommandResult>;
  readSysctl(key: string): string;
  writeSysctl(key: string, value: string): void;
}

function sysctlPath(key: string): string {
  if (!/^[a-z0-9_.-]+$/i.test(key)) throw new Error(`invalid sysctl key: ${key}`);
  return `/proc/sys/${key.replaceAll(".", "/")}`;
}

async function spawnCollect(argv: string[], stdin?: string): Promise<CommandResult> {
  const proc = Bun.spawn(argv, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/**
 * `netns` null: the daemon's namespace. Otherwise a namespace path (commands run through `nsenter --net`)
 * or fd (commands get it through /proc/<daemon pid>/fd/<fd>).
 */
export function netHost(netns: NetnsRef | null = null): NetHost {
  const nsPath = netns === null ? null : typeof netns === "string" ? netns : `/proc/${process.pid}/fd/${netns}`;
  const inside = <T>(fn: () => T): T => (netns === null ? fn() : inNetns(netns, fn));
  return {
    run: (argv, stdin) => spawnCollect(nsPath === null ? argv : ["nsenter", `--net=${nsPath}`, "--", ...argv], stdin),
    readSysctl: (key) => inside(() => readFileSync(sysctlPath(key), "utf8").trim()),
    writeSysctl: (key, value) => inside(() => writeFileSync(sysctlPath(key), value)),
  };
}

/** Run and throw CommandError unless the tool exits 0. */
export async function runChecked(host: NetHost, argv: string[], stdin?: string): Promise<string> {
  const result = await host.run(argv, stdin);
  if (result.code !== 0) throw new CommandError(argv, result);
  return result.stdout;
}
