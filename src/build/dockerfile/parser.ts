/**
 * The Dockerfile parser: parser directives, comments, line continuations (with the escape character), and each
 * logical line split into an instruction keyword, its `--flags` and the rest of its arguments. What the
 * arguments mean is left to ./instructions.ts; variables are expanded later, when the instruction runs, because
 * their values depend on the build. Follows moby's classic parser (buildkit/frontend/dockerfile/parser).
 */
import { DockerfileError, type SourceLocation } from "./errors";

export type EscapeToken = "\\" | "`";

export interface RawInstruction {
  /** Upper case: `FROM`, `RUN`, ... (not checked here). */
  keyword: string;
  /** Leading `--name[=value]` words with quotes and escapes removed, `--` excluded. */
  flags: string[];
  /** Everything after the keyword and the flags. */
  args: string;
  /** The logical line as written (continuations joined, escape characters removed), for `Step N/M : …`. */
  original: string;
  location: SourceLocation;
}

export interface ParsedDockerfile {
  escape: EscapeToken;
  instructions: RawInstruction[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const KNOWN_DIRECTIVES = new Set(["escape", "syntax", "check"]);

/** Parse a Dockerfile's text; `file` names it in error messages. */
export function parseDockerfile(text: string, file: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  let escape: EscapeToken = "\\";
  let index = 0;
  const seen = new Set<string>();
  for (; index < lines.length; index++) {
    const match = DIRECTIVE.exec(lines[index]!);
    if (!match) break;
    const name = match[1]!.toLowerCase();
    if (!KNOWN_DIRECTIVES.has(name)) break;
    if (seen.has(name)) throw new DockerfileError({ file, line: index + 1 }, `only one ${name} parser directive can be used`);
    seen.add(name);
    if (name === "escape") {
      const value = match[2]!;
      if (value !== "\\" && value !== "`") throw new DockerfileError({ file, line: index + 1 }, `invalid escape token '${value}' does not match \` or \\`);
      escape = value;
    }
  }

  const continuation = new RegExp(`${escape === "\\" ? "\\\\" : "`"}[ \\t]*$`);
  const instructions: RawInstruction[] = [];
  while (index < lines.length) {
    const startLine = index + 1;
    const first = lines[index++]!.trimStart();
    if (first.startsWith("#")) continue;
    let logical = first;
    let ended = !continuation.test(first);
    if (!ended) logical = first.replace(continuation, "");
    else if (logical.trim() === "") continue;
    while (!ended && index < lines.length) {
      const next = lines[index++]!;
      // Comments and blank lines inside a continued instruction are dropped, as docker does.
      if (next.trimStart().startsWith("#") || next.trim() === "") continue;
      ended = !continuation.test(next);
      logical += ended ? next : next.replace(continuation, "");
    }
    if (logical.trim() === "") continue;
    instructions.push(splitInstruction(logical, escape, { file, line: startLine }));
  }
  if (instructions.length === 0) throw new DockerfileError(null, `the Dockerfile (${file}) cannot be empty`);
  return { escape, instructions };
}

/** One logical line → keyword, flags, arguments (also used for ONBUILD triggers). */
export function splitInstruction(line: string, escape: EscapeToken, location: SourceLocation): RawInstruction {
  const trimmed = line.trim();
  const match = /^(\S+)(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) throw new DockerfileError(location, "empty instruction");
  const keyword = match[1]!.toUpperCase();
  const { flags, rest } = extractFlags(match[2] ?? "", escape);
  return { keyword, flags, args: rest.trim(), original: trimmed, location };
}

/**
 * Leading words that start with `--` are flags (`--from=build`, `--chown="a b"`); a bare `--` ends them.
 * Quotes and escapes inside a flag word are removed; the rest of the line is returned untouched.
 */
export function extractFlags(text: string, escape: EscapeToken): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
    if (!text.startsWith("--", pos)) return { flags, rest: text.slice(pos) };
    let word = "";
    let quote: string | null = null;
    for (; pos < text.length; pos++) {
      const ch = text[pos]!;
      if (quote) {
        if (ch === quote) quote = null;
        else if (ch === escape && quote === '"' && pos + 1 < text.length) word += text[++pos];
        else word += ch;
        continue;
      }
      if (/\s/.test(ch)) break;
      if (ch === "'" || ch === '"') quote = ch;
      else if (ch === escape) {
        if (pos + 1 < text.length) word += text[++pos];
      } else word += ch;
    }
    if (word === "--") return { flags, rest: text.slice(pos).trimStart() };
    flags.push(word);
  }
}
