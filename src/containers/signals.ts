/** Signal names and numbers as `docker kill -s` and `--stop-signal` take them (x86-64/arm64 Linux numbering). */
import { InvalidParameterError } from "../errors";

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};
const SIGRTMIN = 34;
const SIGRTMAX = 64;

export const SIGKILL = 9;
export const SIGTERM = 15;

/** "TERM", "SIGTERM", "sigterm", "15", "RTMIN+3" → number; 400 for anything else. */
export function parseSignal(input: string): number {
  const text = input.trim().toUpperCase();
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    const name = text.startsWith("SIG") ? text.slice(3) : text;
    const known = SIGNALS[name];
    if (known !== undefined) return known;
    const rt = /^RTM(IN|AX)([+-]\d+)?$/.exec(name);
    if (rt) {
      const n = (rt[1] === "IN" ? SIGRTMIN : SIGRTMAX) + Number(rt[2] ?? 0);
      if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
    }
  }
  throw new InvalidParameterError(`Invalid signal: ${input}`);
}
