/** Leveled logging to stderr, one line per event, in the `time level msg key=value` shape dockerd uses. */
export const LEVELS = ["debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LEVELS)[number];

let threshold: LogLevel = "info";

export function setLogLevel(level: string): void {
  if (!(LEVELS as readonly string[]).includes(level)) throw new Error(`invalid log level ${JSON.stringify(level)}: use one of ${LEVELS.join(", ")}`);
  threshold = level as LogLevel;
}

export type Fields = Record<string, string | number | boolean | null | undefined>;

function emit(level: LogLevel, msg: string, fields?: Fields): void {
  if (LEVELS.indexOf(level) < LEVELS.indexOf(threshold)) return;
  let line = `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}`;
  if (fields) for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${typeof v === "string" ? JSON.stringify(v) : v}`;
  process.stderr.write(line + "\n");
}

export const log = {
  debug: (msg: string, fields?: Fields) => emit("debug", msg, fields),
  info: (msg: string, fields?: Fields) => emit("info", msg, fields),
  warn: (msg: string, fields?: Fields) => emit("warn", msg, fields),
  error: (msg: string, fields?: Fields) => emit("error", msg, fields),
};
