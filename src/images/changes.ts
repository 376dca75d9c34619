import { posix } from "node:path";
import { InvalidParameterError } from "../errors";
import type { ContainerConfig } from "../registry/types";

/**
 * The Dockerfile instructions `docker import --change` and `docker commit --change` accept, applied to an image's
 * container config the way the builder would (a later instruction overrides an earlier one; ENTRYPOINT clears a
 * CMD that did not come before it in the same list).
 */
const ALLOWED = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"] as const;

export function applyChanges(base: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const config: ContainerConfig = structuredClone(base);
  let cmdSet = false;
  for (const change of changes) {
    const text = change.trim();
    if (!text) continue;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(text)!;
    const instruction = match[1]!.toUpperCase();
    const rest = match[2]!.trim();
    if (!(ALLOWED as readonly string[]).includes(instruction)) {
      throw new InvalidParameterError(`${instruction} is not a valid change command`);
    }
    const needArgs = () => {
      if (!rest) throw new InvalidParameterError(`${instruction} requires at least one argument`);
    };
    switch (instruction) {
      case "CMD":
        config.Cmd = commandForm(rest);
        cmdSet = true;
        break;
      case "ENTRYPOINT":
        config.Entrypoint = rest ? commandForm(rest) : null;
        if (!cmdSet) config.Cmd = null;
        break;
      case "ENV":
        needArgs();
        config.Env = mergeEnv(config.Env ?? [], keyValues(rest, instruction, true));
        break;
      case "LABEL":
        needArgs();
        config.Labels = { ...config.Labels, ...Object.fromEntries(keyValues(rest, instruction, false)) };
        break;
      case "EXPOSE":
        needArgs();
        config.ExposedPorts ??= {};
        for (const port of words(rest)) config.ExposedPorts[exposedPort(port)] = {};
        break;
      case "VOLUME":
        needArgs();
        config.Volumes ??= {};
        for (const path of jsonArray(rest) ?? words(rest)) config.Volumes[path] = {};
        break;
      case "WORKDIR":
        needArgs();
        config.WorkingDir = posix.isAbsolute(rest) ? posix.normalize(rest) : posix.join(config.WorkingDir || "/", rest);
        break;
      case "USER":
        needArgs();
        config.User = rest;
        break;
      case "STOPSIGNAL":
        needArgs();
        config.StopSignal = rest;
        break;
      case "ONBUILD":
        needArgs();
        config.OnBuild = [...(config.OnBuild ?? []), rest];
        break;
      case "HEALTHCHECK":
        config.Healthcheck = healthcheck(rest);
        break;
    }
  }
  return config;
}

function jsonArray(text: string): string[] | null {
  if (!text.startsWith("[")) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value;
  } catch {
    // not JSON: shell form
  }
  return null;
}

/** Exec form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`). */
function commandForm(text: string): string[] {
  return jsonArray(text) ?? ["/bin/sh", "-c", text];
}

/** Splits on unquoted whitespace, removing quotes and backslash escapes like the Dockerfile parser. */
function words(text: string): string[] {
  const out: string[] = [];
  let word = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new InvalidParameterError(`unmatched quote in ${JSON.stringify(text)}`);
  if (inWord) out.push(word);
  return out;
}

/** `k=v k2="v 2"`, or the legacy one-pair form `k value with spaces` (ENV only). */
function keyValues(text: string, instruction: string, legacyForm: boolean): [string, string][] {
  const first = /^[^\s=]+/.exec(text)?.[0] ?? "";
  if (legacyForm && !text.slice(first.length).startsWith("=")) {
    const value = text.slice(first.length).trim();
    if (!value) throw new InvalidParameterError(`${instruction} names can not be blank`);
    return [[first, words(value).join(" ")]];
  }
  return words(text).map((pair) => {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new InvalidParameterError(`${instruction} requires key=value pairs, got ${JSON.stringify(pair)}`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

function mergeEnv(env: string[], pairs: [string, string][]): string[] {
  const out = [...env];
  for (const [key, value] of pairs) {
    const at = out.findIndex((e) => e.split("=", 1)[0] === key);
    if (at >= 0) out[at] = `${key}=${value}`;
    else out.push(`${key}=${value}`);
  }
  return out;
}

function exposedPort(spec: string): string {
  const m = /^(\d+)(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  if (!m) throw new InvalidParameterError(`invalid containerPort: ${spec}`);
  return `${m[1]}/${(m[2] ?? "tcp").toLowerCase()}`;
}

function healthcheck(text: string): ContainerConfig["Healthcheck"] {
  if (text.toUpperCase() === "NONE") return { Test: ["NONE"] };
  const m = /^CMD\s+([\s\S]+)$/i.exec(text);
  if (!m) throw new InvalidParameterError("HEALTHCHECK needs NONE or CMD <command> (options are not supported in --change)");
  const exec = jsonArray(m[1]!.trim());
  return { Test: exec ? ["CMD", ...exec] : ["CMD-SHELL", m[1]!.trim()] };
}
