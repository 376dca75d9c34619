/**
 * `.dockerignore` with docker's semantics (moby/patternmatcher + ignorefile): one pattern a line, `#` comments,
 * paths cleaned and made relative to the context root, `*` and `?` never cross a `/`, `**` crosses any number of
 * directories (including none), `[...]` classes and `\` escapes as in Go's filepath.Match, `!` re-includes what
 * an earlier pattern excluded, the last matching pattern wins, and a pattern that matches a directory matches
 * everything below it. Pure code: the CLI uses it to leave files out of the context it sends, the daemon to
 * drop them from the context it received.
 */
import { posix } from "node:path";

interface Pattern {
  exclusion: boolean;
  regexp: RegExp;
}

const REGEXP_SPECIALS = new Set([".", "+", "(", ")", "|", "{", "}", "$", "^"]);

function clean(path: string): string {
  const normalized = posix.normalize(path);
  return normalized.length > 1 && normalized.endsWith("/") ? normalized.slice(0, -1) : normalized;
}

function compile(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        if (pattern[i + 1] === "/") i++;
        re += i + 1 >= pattern.length ? ".*" : "(.*/)?";
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "\\") {
      const next = pattern[i + 1];
      if (next === undefined) re += "\\\\";
      else {
        re += /[A-Za-z0-9]/.test(next) ? next : `\\${next}`;
        i++;
      }
    } else if (ch === "[" || ch === "]") re += ch;
    else if (REGEXP_SPECIALS.has(ch)) re += `\\${ch}`;
    else re += ch;
  }
  try {
    return new RegExp(`${re}$`, "s");
  } catch {
    throw new Error(`invalid .dockerignore pattern: ${pattern}`);
  }
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[];
  /** Whether some pattern starts with `!` (a matched directory may then hold files that are kept). */
  readonly hasExclusions: boolean;

  constructor(lines: readonly string[]) {
    this.patterns = [];
    for (const line of lines) {
      let text = line.trim();
      if (text === "") continue;
      const exclusion = text.startsWith("!");
      if (exclusion) text = text.slice(1).trim();
      if (text === "") throw new Error('illegal exclusion pattern: "!"');
      text = clean(text);
      if (text.length > 1 && text.startsWith("/")) text = text.slice(1);
      this.patterns.push({ exclusion, regexp: compile(text) });
    }
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  /** The patterns of a .dockerignore file's text. */
  static parse(text: string): IgnoreMatcher {
    const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/).filter((l) => !l.startsWith("#"));
    return new IgnoreMatcher(lines);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether `path` (relative to the context, `/`-separated) is excluded, by itself or through a parent directory. */
  matches(path: string): boolean {
    const file = clean(path);
    const parents = posix.dirname(file).split("/");
    let matched = false;
    for (const pattern of this.patterns) {
      // An inclusion cannot change a match, nor an exclusion a non-match.
      if (pattern.exclusion !== matched) continue;
      let hit = pattern.regexp.test(file);
      if (!hit && parents[0] !== ".") {
        for (let i = 1; i <= parents.length && !hit; i++) hit = pattern.regexp.test(parents.slice(0, i).join("/"));
      }
      if (hit) matched = !pattern.exclusion;
    }
    return matched;
  }
}
