/**
 * Raw instructions → typed ones: each instruction's argument grammar (exec/JSON vs shell form, key=value pairs,
 * whitespace lists), its allowed flags, and the checks docker makes at parse time. Values keep their quotes and
 * `$VAR`s: they are expanded when the instruction runs (./evaluate.ts), with the variables of that moment.
 */
import { DockerfileError, type SourceLocation } from "./errors";
import { splitInstruction, type EscapeToken, type RawInstruction } from "./parser";
import { splitWords } from "./words";

/** A command in exec form (`["a","b"]`, run as is) or shell form (run by the SHELL). */
export type CommandForm = { exec: string[] } | { shell: string };

interface Base {
  location: SourceLocation;
  original: string;
}

type Command<K> = Base & { kind: K; command: CommandForm };
type Pairs<K> = Base & { kind: K; pairs: [string, string][] };
type Value<K> = Base & { kind: K; value: string };
type Copy<K> = Base & { kind: K; sources: string[]; dest: string; from: string | null; chown: string | null; chmod: string | null; checksum: string | null };

export type Instruction =
  | (Base & { kind: "FROM"; image: string; stageName: string | null; platform: string | null })
  | (Base & { kind: "RUN"; command: CommandForm; network: string | null })
  | Command<"CMD">
  | Command<"ENTRYPOINT">
  | Pairs<"ENV">
  | Pairs<"LABEL">
  | (Base & { kind: "ARG"; args: { name: string; value: string | null }[] })
  | (Base & { kind: "EXPOSE"; ports: string[] })
  | Value<"WORKDIR">
  | Value<"USER">
  | Value<"STOPSIGNAL">
  | Value<"MAINTAINER">
  | (Base & { kind: "VOLUME"; paths: string[] })
  | Copy<"COPY">
  | Copy<"ADD">
  | (Base & { kind: "SHELL"; shell: string[] })
  | (Base & { kind: "HEALTHCHECK"; test: CommandForm | "NONE"; options: HealthcheckOptions })
  | (Base & { kind: "ONBUILD"; trigger: string });

export type InstructionKind = Instruction["kind"];
export type InstructionOf<K extends InstructionKind> = Extract<Instruction, { kind: K }>;

export interface HealthcheckOptions {
  interval?: string;
  timeout?: string;
  startPeriod?: string;
  startInterval?: string;
  retries?: string;
}

/** The flags each instruction accepts (`--link` is accepted and has no effect: every COPY layer is independent). */
const FLAGS: Record<InstructionKind, readonly string[]> = {
  FROM: ["platform"],
  RUN: ["network"],
  CMD: [],
  ENTRYPOINT: [],
  ENV: [],
  LABEL: [],
  ARG: [],
  EXPOSE: [],
  WORKDIR: [],
  USER: [],
  STOPSIGNAL: [],
  MAINTAINER: [],
  VOLUME: [],
  COPY: ["from", "chown", "chmod", "link"],
  ADD: ["chown", "chmod", "checksum", "link"],
  SHELL: [],
  HEALTHCHECK: ["interval", "timeout", "start-period", "start-interval", "retries"],
  ONBUILD: [],
};

const BOOLEAN_FLAGS = new Set(["link"]);

/** Flags that need BuildKit: a clear refusal beats "unknown flag". */
const BUILDKIT_ONLY_FLAGS = new Set(["mount", "security", "parents", "exclude", "keep-git-dir"]);

function isKind(keyword: string): keyword is InstructionKind {
  return Object.prototype.hasOwnProperty.call(FLAGS, keyword);
}

export function parseInstruction(raw: RawInstruction, escape: EscapeToken): Instruction {
  const { keyword, location } = raw;
  if (!isKind(keyword)) throw new DockerfileError(location, `unknown instruction: ${keyword}`);
  const flags = parseFlags(raw, FLAGS[keyword]);
  const base = { location, original: raw.original };
  const args = raw.args;
  const fail = (message: string): never => {
    throw new DockerfileError(location, message);
  };
  const requireArgs = (min = 1) => {
    if (args === "") fail(`${keyword} requires at least ${min === 1 ? "one argument" : `${min} arguments`}`);
  };

  switch (keyword) {
    case "FROM": {
      const words = args.split(/\s+/).filter(Boolean);
      if (words.length !== 1 && !(words.length === 3 && words[1]!.toLowerCase() === "as")) fail("FROM requires either one or three arguments");
      const stageName = words[2]?.toLowerCase() ?? null;
      if (stageName !== null && !/^[a-z][a-z0-9-_.]*$/.test(stageName)) fail(`invalid name for build stage: "${words[2]}", name can't start with a number or contain symbols`);
      return { ...base, kind: "FROM", image: words[0]!, stageName, platform: flags.get("platform") ?? null };
    }
    case "RUN":
      requireArgs();
      return { ...base, kind: "RUN", command: commandForm(args, location, keyword), network: flags.get("network") ?? null };
    case "CMD":
    case "ENTRYPOINT":
      return { ...base, kind: keyword, command: args === "" ? { exec: [] } : commandForm(args, location, keyword) };
    case "ENV":
    case "LABEL":
      requireArgs();
      return { ...base, kind: keyword, pairs: nameValuePairs(args, escape, keyword, location) };
    case "ARG": {
      requireArgs();
      const list = splitWords(args, escape).map((word) => {
        const eq = word.indexOf("=");
        const name = eq < 0 ? word : word.slice(0, eq);
        if (name === "") fail("ARG names can not be blank");
        return { name, value: eq < 0 ? null : word.slice(eq + 1) };
      });
      return { ...base, kind: "ARG", args: list };
    }
    case "EXPOSE":
      requireArgs();
      return { ...base, kind: "EXPOSE", ports: args.split(/\s+/).filter(Boolean) };
    case "WORKDIR":
    case "USER":
    case "STOPSIGNAL":
    case "MAINTAINER":
      requireArgs();
      if (keyword === "STOPSIGNAL" && /\s/.test(args)) fail("STOPSIGNAL requires exactly one argument");
      return { ...base, kind: keyword, value: args };
    case "VOLUME": {
      requireArgs();
      const paths = listForm(args, location, keyword);
      if (paths.some((p) => p.trim() === "")) fail("VOLUME specified can not be an empty string");
      return { ...base, kind: "VOLUME", paths };
    }
    case "COPY":
    case "ADD": {
      const list = listForm(args, location, keyword);
      if (list.length < 2) fail(`${keyword} requires at least two arguments, but only ${list.length === 0 ? "none" : "one"} was provided. Destination could not be determined.`);
      return {
        ...base,
        kind: keyword,
        sources: list.slice(0, -1),
        dest: list.at(-1)!,
        from: flags.get("from") ?? null,
        chown: flags.get("chown") ?? null,
        chmod: flags.get("chmod") ?? null,
        checksum: flags.get("checksum") ?? null,
      };
    }
    case "SHELL": {
      const form = commandForm(args, location, keyword);
      if (!("exec" in form) || form.exec.length === 0) fail("SHELL requires the arguments to be in JSON form");
      return { ...base, kind: "SHELL", shell: (form as { exec: string[] }).exec };
    }
    case "HEALTHCHECK": {
      const options: HealthcheckOptions = {
        interval: flags.get("interval"),
        timeout: flags.get("timeout"),
        startPeriod: flags.get("start-period"),
        startInterval: flags.get("start-interval"),
        retries: flags.get("retries"),
      };
      const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(args);
      const type = m?.[1]?.toUpperCase();
      if (type === "NONE") {
        if ((m?.[2] ?? "").trim() !== "") fail("HEALTHCHECK NONE takes no arguments");
        if (flags.size > 0) fail("HEALTHCHECK NONE takes no options");
        return { ...base, kind: "HEALTHCHECK", test: "NONE", options };
      }
      if (type !== "CMD") fail(`Unknown type "${m?.[1] ?? ""}" in HEALTHCHECK (try CMD)`);
      const rest = (m?.[2] ?? "").trim();
      if (rest === "") fail("Missing command after HEALTHCHECK CMD");
      return { ...base, kind: "HEALTHCHECK", test: commandForm(rest, location, keyword), options };
    }
    case "ONBUILD": {
      requireArgs();
      const inner = splitInstruction(args, escape, location);
      if (inner.keyword === "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (inner.keyword === "FROM" || inner.keyword === "MAINTAINER") fail(`${inner.keyword} isn't allowed as an ONBUILD trigger`);
      // Parsed now so a bad trigger fails this build rather than the one that inherits it.
      parseInstruction(inner, escape);
      return { ...base, kind: "ONBUILD", trigger: args };
    }
  }
}

function parseFlags(raw: RawInstruction, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const flag of raw.flags) {
    const m = /^--([^=]+)(?:=([\s\S]*))?$/.exec(flag);
    const name = m?.[1];
    if (!name) throw new DockerfileError(raw.location, `invalid flag: ${flag}`);
    if (!allowed.includes(name)) {
      if (BUILDKIT_ONLY_FLAGS.has(name)) throw new DockerfileError(raw.location, `${raw.keyword} --${name} requires BuildKit, which this builder does not implement`);
      throw new DockerfileError(raw.location, `unknown flag: ${name}`);
    }
    if (out.has(name)) throw new DockerfileError(raw.location, `duplicate flag specified: ${name}`);
    if (m[2] === undefined && !BOOLEAN_FLAGS.has(name)) throw new DockerfileError(raw.location, `missing a value on flag: ${name}`);
    out.set(name, m[2] ?? "true");
  }
  return out;
}

/**
 * A JSON array of strings is the exec form. Anything else is the shell form — except text that is bracketed
 * like an array but is not valid JSON (`["a", 'b']`), which docker would silently run as a shell command: that
 * is almost always a mistake, so it is reported.
 */
function commandForm(args: string, location: SourceLocation, keyword: string): CommandForm {
  const list = jsonList(args, location, keyword);
  return list ? { exec: list } : { shell: args };
}

/** JSON array, or the arguments split at whitespace (COPY, ADD, VOLUME). */
function listForm(args: string, location: SourceLocation, keyword: string): string[] {
  return jsonList(args, location, keyword) ?? args.split(/\s+/).filter(Boolean);
}

function jsonList(args: string, location: SourceLocation, keyword: string): string[] | null {
  const text = args.trim();
  if (!text.startsWith("[")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    if (text.endsWith("]")) throw new DockerfileError(location, `${keyword}: invalid JSON array form ${text}: use double quotes and commas (["a", "b"]), or write the shell form without brackets`);
    return null;
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new DockerfileError(location, `${keyword}: the JSON form must be an array of strings`);
  return value;
}

/** `k=v k2="v 2"`, or the legacy `KEY name value with spaces` form. */
function nameValuePairs(args: string, escape: EscapeToken, keyword: string, location: SourceLocation): [string, string][] {
  const words = splitWords(args, escape);
  if (!words[0]!.includes("=")) {
    const m = /^(\S+)\s+([\s\S]+)$/.exec(args);
    if (!m) throw new DockerfileError(location, `${keyword} must have two arguments`);
    return [[m[1]!, m[2]!]];
  }
  return words.map((word) => {
    const eq = word.indexOf("=");
    if (eq < 0) throw new DockerfileError(location, `Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    if (eq === 0) throw new DockerfileError(location, `${keyword} names can not be blank`);
    return [word.slice(0, eq), word.slice(eq + 1)];
  });
}
