/**
 * docker-style flag parsing for commands whose trailing arguments belong to the container (`run IMAGE sh -c
 * 'exit 3'`, `exec CTR ls -l`): flags stop at the first positional argument, short booleans combine (`-it`),
 * values come as `--name x`, `--name=x`, `-e K=V` or `-eK=V`, and list flags repeat.
 */
export type FlagKind = "bool" | "string" | "list";

export interface FlagSpec {
  /** Long name without dashes; the key in the result. */
  name: string;
  short?: string;
  kind: FlagKind;
  /** Other long names (`--net` for `--network`). */
  aliases?: string[];
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export class FlagError extends Error {}

export function parseFlags(args: readonly string[], specs: readonly FlagSpec[], stopAtPositional: boolean): { flags: FlagValues; rest: string[] } {
  const byLong = new Map<string, FlagSpec>();
  const byShort = new Map<string, FlagSpec>();
  for (const s of specs) {
    byLong.set(s.name, s);
    for (const a of s.aliases ?? []) byLong.set(a, s);
    if (s.short) byShort.set(s.short, s);
  }
  const flags: FlagValues = {};
  const rest: string[] = [];
  const set = (spec: FlagSpec, value: string | true) => {
    if (spec.kind === "list") (flags[spec.name] = (flags[spec.name] as string[] | undefined) ?? []).push(String(value));
    else if (spec.kind === "bool") flags[spec.name] = value === true || !["false", "0"].includes(value);
    else flags[spec.name] = String(value);
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (stopAtPositional) {
        rest.push(...args.slice(i));
        break;
      }
      rest.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = byLong.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, arg.slice(eq + 1));
      else if (spec.kind === "bool") set(spec, true);
      else if (i + 1 < args.length) set(spec, args[++i]!);
      else throw new FlagError(`flag needs an argument: --${name}`);
      continue;
    }
    // Short flags: -it, -e K=V, -eK=V, -d=false
    for (let j = 1; j < arg.length; j++) {
      const spec = byShort.get(arg[j]!);
      if (!spec) throw new FlagError(`unknown shorthand flag: '${arg[j]}' in ${arg}`);
      if (spec.kind === "bool") {
        if (arg[j + 1] === "=") {
          set(spec, arg.slice(j + 2));
          break;
        }
        set(spec, true);
        continue;
      }
      const inline = arg.slice(j + 1).replace(/^=/, "");
      if (inline) set(spec, inline);
      else if (i + 1 < args.length) set(spec, args[++i]!);
      else throw new FlagError(`flag needs an argument: '${arg[j]}' in -${arg[j]}`);
      break;
    }
  }
  return { flags, rest };
}

/** The arguments after `command` on our own command line (global flags such as `-H x` before it skipped). */
export function argsAfterCommand(argv: readonly string[], command: string): string[] {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-H" || a === "--host") {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    if (a === command) return args.slice(i + 1);
    break;
  }
  return [];
}

export const str = (v: FlagValues[string]): string | undefined => (typeof v === "string" ? v : undefined);
export const list = (v: FlagValues[string]): string[] => (Array.isArray(v) ? v : []);
export const bool = (v: FlagValues[string]): boolean => v === true;
