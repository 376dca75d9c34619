/**
 * Restart policies (`no`, `on-failure[:N]`, `always`, `unless-stopped`) with docker's back-off: the delay starts at
 * 100 ms and doubles after each restart up to a minute; a run that lasted 10 s or more resets it.
 */
import type { RestartPolicy } from "./types";

const INITIAL_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_RUN_MS = 10_000;

export function shouldRestart(policy: RestartPolicy, exitCode: number, restartCount: number, manuallyStopped: boolean): boolean {
  if (manuallyStopped) return false;
  switch (policy.Name) {
    case "always":
    case "unless-stopped":
      return true;
    case "on-failure":
      return exitCode !== 0 && (policy.MaximumRetryCount === 0 || restartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}

/** Per container, in memory: the delay before the next restart. */
export class Backoff {
  private delay = 0;

  next(ranForMs: number): number {
    if (ranForMs >= RESET_AFTER_RUN_MS || this.delay === 0) this.delay = INITIAL_DELAY_MS;
    else this.delay = Math.min(this.delay * 2, MAX_DELAY_MS);
    return this.delay;
  }

  reset(): void {
    this.delay = 0;
  }
}
