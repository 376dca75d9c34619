/**
 * docker-init (init.c) installed on the host, where containers that run under `--init` get it bind-mounted
 * read-only at /sbin/docker-init.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** Where containers see it; their command runs as `DOCKER_INIT_IN_CONTAINER -- cmd...`. */
export const DOCKER_INIT_IN_CONTAINER = "/sbin/docker-init";

export class InitBinaryError extends Error {
  override name = "InitBinaryError";
}

/**
 * A function that writes docker-init to `target` (mode 0755) the first time it is called, unless the same
 * bytes are there already, and resolves to `target`. A failed install is tried again on the next call.
 */
export function dockerInitInstaller(target: string): () => Promise<string> {
  let installed: Promise<string> | undefined;
  return () =>
    (installed ??= install(target).catch((err: unknown) => {
      installed = undefined;
      throw err;
    }));
}

async function install(target: string): Promise<string> {
  let embedded: string;
  try {
    ({ DOCKER_INIT_PATH: embedded } = await import("./binary"));
  } catch (err) {
    throw new InitBinaryError(`docker-init is not built (\`bun run build\` compiles it): ${(err as Error).message}`);
  }
  const bytes = readFileSync(embedded);
  if (existsSync(target) && bytes.equals(readFileSync(target))) {
    chmodSync(target, 0o755);
    return target;
  }
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  // A new inode: containers running under the old one keep it (their bind mount holds it).
  const temporary = `${target}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes, { mode: 0o755 });
  chmodSync(temporary, 0o755);
  renameSync(temporary, target);
  return target;
}
