/** Run the real docker CLI (or our own CLI) against a test daemon and capture the outcome. */
import { existsSync } from "node:fs";
import { BUNKER_BIN } from "./daemon";
import { SETTLE_TIMEOUT_MS, StreamText } from "./wait";

export const DOCKER_BIN = "/usr/local/bin/docker";

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function requireDocker(): void {
  if (!existsSync(DOCKER_BIN))
    throw new Error(`the docker CLI is missing at ${DOCKER_BIN}: install docker-ce-cli 28.x (or Debian's docker.io and symlink /usr/bin/docker there)`);
}

/** Run any command line tool with `env` added to ours, capturing its output; killed after `timeoutMs`. */
export async function runTool(bin: string, args: string[], env: Record<string, string>, stdin?: string | Uint8Array, timeoutMs = 120_000): Promise<RunResult> {
  const proc = Bun.spawn([bin, ...args], {
    env: { ...process.env, ...env },
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

export function docker(env: Record<string, string>, args: string[], stdin?: string | Uint8Array, timeoutMs?: number): Promise<RunResult> {
  requireDocker();
  return runTool(DOCKER_BIN, args, { DOCKER_BUILDKIT: "0", ...env }, stdin, timeoutMs);
}

export function bunker(env: Record<string, string>, args: string[], stdin?: string | Uint8Array, timeoutMs?: number): Promise<RunResult> {
  return runTool(BUNKER_BIN, args, env, stdin, timeoutMs);
}

/**
 * Run a docker command that does not end by itself (`logs -f`, `events`) until its stdout matches `pattern`,
 * then end it; returns the stdout read. Fails if the command ends or the time is up first.
 */
export async function dockerUntil(env: Record<string, string>, args: string[], pattern: RegExp, timeoutMs = SETTLE_TIMEOUT_MS): Promise<string> {
  requireDocker();
  const proc = Bun.spawn([DOCKER_BIN, ...args], { env: { ...process.env, DOCKER_BUILDKIT: "0", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  try {
    return await new StreamText(proc.stdout).until(pattern, timeoutMs);
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}
