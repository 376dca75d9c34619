/** Values of image config fields as Dockerfile instructions write them, checked the way docker checks them. */
import { InvalidParameterError } from "../errors";
import type { HealthConfig } from "../registry/types";

export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
export const DEFAULT_SHELL = ["/bin/sh", "-c"];

/** The value of `key` in a `KEY=value` list. */
export function envValue(env: readonly string[], key: string): string | undefined {
  for (const entry of env) {
    const eq = entry.indexOf("=");
    if ((eq < 0 ? entry : entry.slice(0, eq)) === key) return eq < 0 ? "" : entry.slice(eq + 1);
  }
  return undefined;
}

/** `env` with `key` set (replaced in place when present, appended otherwise). */
export function withEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const at = out.findIndex((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e) === key);
  if (at >= 0) out[at] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds ("1m30s", "500ms", "0"). */
export function parseDuration(text: string): number {
  if (text === "0") return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    at = re.lastIndex;
  }
  if (at === 0 || at !== text.length) throw new InvalidParameterError(`time: invalid duration "${text}"`);
  return Math.round(total);
}

export interface HealthcheckFlags {
  interval?: string;
  timeout?: string;
  startPeriod?: string;
  startInterval?: string;
  retries?: string;
}

const MIN_HEALTH_DURATION_NS = 1e6;

/** HEALTHCHECK's options and command as the image config stores them. */
export function healthConfig(test: string[], flags: HealthcheckFlags): HealthConfig {
  const config: HealthConfig = { Test: test };
  const durations: [keyof HealthcheckFlags, "Interval" | "Timeout" | "StartPeriod" | "StartInterval", string][] = [
    ["interval", "Interval", "--interval"],
    ["timeout", "Timeout", "--timeout"],
    ["startPeriod", "StartPeriod", "--start-period"],
    ["startInterval", "StartInterval", "--start-interval"],
  ];
  for (const [flag, field, name] of durations) {
    const text = flags[flag];
    if (text === undefined) continue;
    const ns = parseDuration(text);
    if (ns !== 0 && ns < MIN_HEALTH_DURATION_NS) throw new InvalidParameterError(`${name} cannot be less than 1ms`);
    if (ns !== 0) config[field] = ns;
  }
  if (flags.retries !== undefined) {
    if (!/^\d+$/.test(flags.retries)) throw new InvalidParameterError(`--retries must be a whole number, got ${flags.retries}`);
    const retries = Number(flags.retries);
    if (retries !== 0) config.Retries = retries;
  }
  return config;
}

/** EXPOSE's `port[/proto]` and `from-to[/proto]` → `port/proto` keys. */
export function exposedPorts(spec: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw new InvalidParameterError(`invalid port specification: ${JSON.stringify(spec)}`);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  const proto = (m[3] ?? "tcp").toLowerCase();
  if (first < 1 || last > 65535 || last < first) throw new InvalidParameterError(`invalid port range: ${spec}`);
  const out: string[] = [];
  for (let p = first; p <= last; p++) out.push(`${p}/${proto}`);
  return out;
}

const SIGNAL_NAMES = new Set([
  "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR",
  "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
]);

/** STOPSIGNAL accepts a number, a name (with or without SIG) or SIGRTMIN+n / SIGRTMAX-n. */
export function checkStopSignal(value: string): void {
  if (/^\d+$/.test(value) && Number(value) > 0 && Number(value) < 65) return;
  const name = value.toUpperCase().replace(/^SIG/, "");
  if (SIGNAL_NAMES.has(name) || /^RTMIN(\+\d+)?$/.test(name) || /^RTMAX(-\d+)?$/.test(name)) return;
  throw new InvalidParameterError(`invalid signal: ${value}`);
}
