export const TIMED_OUT = Symbol("timed out");

/**
 * Wait for `promise`, but at most `ms`. The timer is cleared when the promise settles first, so a finished
 * wait never keeps the process alive (Bun.sleep in a race would, for its whole length).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
