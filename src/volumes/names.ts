import { InvalidParameterError } from "../errors";

const LOCAL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** The local driver's rule for volume names, with docker's message (which hints at host paths for `-v`). */
export function validateVolumeName(name: string): void {
  if (!LOCAL_NAME.test(name)) {
    throw new InvalidParameterError(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

/** A name for an anonymous volume: 64 hex digits, like docker's. */
export function anonymousVolumeName(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

/** The label docker (23+) puts on anonymous volumes; `volume prune` without `all` removes only those. */
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";
