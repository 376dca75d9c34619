/**
 * The two word-level passes of the Dockerfile language:
 *
 * - `splitWords` cuts an argument list at unquoted whitespace but keeps quotes and escapes in the words (ENV,
 *   LABEL and ARG pairs are split this way first, then each value is expanded).
 * - `expandWord` is the shell-like expansion docker applies to the arguments of most instructions: `$VAR`,
 *   `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`, `${VAR?msg}`;
 *   single quotes are literal, double quotes allow `$` and escape only `"`, `$` and the escape character,
 *   and the escape character outside quotes takes the next character literally. Quotes are removed.
 */
import type { EscapeToken } from "./parser";

/** A variable's value, or undefined when it is not set. */
export type VariableLookup = (name: string) => string | undefined;

export class ExpansionError extends Error {}

export function splitWords(text: string, escape: EscapeToken): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: string | null = null;
  for (let pos = 0; pos < text.length; pos++) {
    const ch = text[pos]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === escape && quote !== "'") {
        if (pos + 1 === text.length) {
          quote = null;
          continue;
        }
        word += ch;
        pos++;
        word += text[pos]!;
        continue;
      }
      word += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === "'" || ch === '"') quote = ch;
    if (ch === escape) {
      if (pos + 1 === text.length) continue;
      word += ch;
      pos++;
      word += text[pos]!;
      continue;
    }
    word += ch;
  }
  if (inWord) words.push(word);
  return words;
}

const SPECIAL_PARAMETERS = new Set(["*", "#", "@", "!", "?", "-", "$"]);

/** Expand variables in one word and remove its quotes. Throws ExpansionError on bad syntax or `${X?}`. */
export function expandWord(word: string, lookup: VariableLookup, escape: EscapeToken): string {
  return new WordExpander(word, lookup, escape).expand();
}

class WordExpander {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly lookup: VariableLookup,
    private readonly escape: EscapeToken,
  ) {}

  expand(): string {
    return this.until(null);
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private next(): string | undefined {
    return this.text[this.pos++];
  }

  /** Text up to (and consuming) `stop`, or to the end when `stop` is null. */
  private until(stop: string | null): string {
    let out = "";
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) {
        if (stop !== null) throw new ExpansionError("syntax error: missing '}'");
        return out;
      }
      if (stop !== null && ch === stop) {
        this.pos++;
        return out;
      }
      if (ch === "'") out += this.singleQuoted();
      else if (ch === '"') out += this.doubleQuoted();
      else if (ch === "$") out += this.dollar();
      else {
        this.pos++;
        if (ch === this.escape) {
          const escaped = this.next();
          if (escaped === undefined) return out;
          out += escaped;
        } else out += ch;
      }
    }
  }

  private singleQuoted(): string {
    this.pos++;
    const end = this.text.indexOf("'", this.pos);
    if (end < 0) throw new ExpansionError("unexpected end of statement while looking for matching single-quote");
    const value = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return value;
  }

  private doubleQuoted(): string {
    this.pos++;
    let out = "";
    for (;;) {
      const ch = this.peek();
      if (ch === undefined) throw new ExpansionError("unexpected end of statement while looking for matching double-quote");
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === "$") {
        out += this.dollar();
        continue;
      }
      this.pos++;
      if (ch === this.escape) {
        const following = this.peek();
        if (following === undefined) continue;
        if (following === '"' || following === "$" || following === this.escape) {
          out += following;
          this.pos++;
          continue;
        }
      }
      out += ch;
    }
  }

  private name(): string {
    const first = this.peek();
    if (first === undefined) return "";
    if (/[0-9]/.test(first)) {
      let digits = "";
      while (this.peek() !== undefined && /[0-9]/.test(this.peek()!)) digits += this.next();
      return digits;
    }
    if (SPECIAL_PARAMETERS.has(first)) return this.next()!;
    let name = "";
    while (this.peek() !== undefined && /[\p{L}\p{N}_]/u.test(this.peek()!)) name += this.next();
    return name;
  }

  private dollar(): string {
    this.pos++;
    if (this.peek() !== "{") {
      const name = this.name();
      return name === "" ? "$" : (this.lookup(name) ?? "");
    }
    this.pos++;
    const first = this.peek();
    if (first === undefined) throw new ExpansionError("syntax error: missing '}'");
    if (first === "{" || first === "}" || first === ":") throw new ExpansionError("syntax error: bad substitution");
    const name = this.name();
    const op = this.next();
    const value = this.lookup(name);
    switch (op) {
      case "}":
        return value ?? "";
      case "-":
      case "+":
      case "?":
        return this.modifier(name, value, op, false);
      case ":": {
        const modifier = this.next();
        if (modifier === "-" || modifier === "+" || modifier === "?") return this.modifier(name, value, modifier, true);
        throw new ExpansionError(`unsupported modifier (${modifier ?? "EOF"}) in substitution`);
      }
      case undefined:
        throw new ExpansionError("syntax error: missing '}'");
      default:
        throw new ExpansionError(`unsupported modifier (${op}) in substitution`);
    }
  }

  /** `${name<op>word}`; with `colon`, an empty value counts as unset. */
  private modifier(name: string, value: string | undefined, op: "-" | "+" | "?", colon: boolean): string {
    const word = this.until("}");
    const set = colon ? value !== undefined && value !== "" : value !== undefined;
    if (op === "-") return set ? value! : word;
    if (op === "+") return set ? word : "";
    if (!set) throw new ExpansionError(`${name}: ${word || "is not allowed to be unset"}`);
    return value!;
  }
}
