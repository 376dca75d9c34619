/** `--log-driver` / `--log-opt`: json-file (rotated) or none. */
import { InvalidParameterError } from "../../errors";

export const LOG_DRIVERS = ["json-file", "none"] as const;
const JSON_FILE_OPTIONS = new Set(["max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag"]);

export interface Rotation {
  /** Bytes per file; 0 = never rotate. */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFiles: number;
}

/** "10m", "512k", "1g", "100" → bytes (docker's units, powers of 1024). */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)b?$/i.exec(text.trim());
  if (!m) throw new InvalidParameterError(`invalid size: '${text}'`);
  const unit = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g"];
  return Math.floor(Number(m[1]) * unit);
}

export function parseLogConfig(config: { Type: string; Config: Record<string, string> | null }): { Type: string; Config: Record<string, string> } {
  const type = config.Type || "json-file";
  if (!(LOG_DRIVERS as readonly string[]).includes(type)) throw new InvalidParameterError(`logging driver "${type}" is not supported (supported: ${LOG_DRIVERS.join(", ")})`);
  const options = config.Config ?? {};
  if (type === "none" && Object.keys(options).length > 0) throw new InvalidParameterError(`logging driver "none" takes no options`);
  for (const key of Object.keys(options)) if (!JSON_FILE_OPTIONS.has(key)) throw new InvalidParameterError(`unknown log opt '${key}' for json-file log driver`);
  rotationOf(options);
  return { Type: type, Config: options };
}

export function rotationOf(options: Record<string, string>): Rotation {
  const maxSize = options["max-size"] === undefined || options["max-size"] === "-1" ? 0 : parseSize(options["max-size"]);
  const maxFiles = options["max-file"] === undefined ? 1 : Number(options["max-file"]);
  if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new InvalidParameterError("max-file cannot be less than 1");
  if (maxFiles > 1 && maxSize === 0) throw new InvalidParameterError("max-file cannot be set without max-size");
  return { maxSize, maxFiles };
}
