/**
 * Build arguments, docker's rules: `--build-arg` values reach only ARGs the Dockerfile declares (plus the
 * predefined proxy variables, which need no declaration and stay out of the cache key and the history); an ARG
 * before the first FROM is visible to FROM lines only, and inside a stage only once re-declared there (`ARG NAME`
 * then takes the global value); a value given to the build overrides the ARG's default; ENV wins over an ARG of
 * the same name when expanding.
 */

/** Usable without an ARG instruction (moby's builtinAllowedBuildArgs). */
export const PREDEFINED_ARGS: ReadonlySet<string> = new Set(["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"]);

export class BuildArgs {
  private readonly meta = new Map<string, string | undefined>();
  private readonly declared = new Set<string>();

  /** `provided`: the request's buildargs; a null value means "declared by the client, no value" (the default applies). */
  constructor(private readonly provided: Readonly<Record<string, string | null>>) {}

  private given(name: string): string | undefined {
    const value = this.provided[name];
    return value === null ? undefined : value;
  }

  /** An ARG before the first FROM; `defaultValue` already expanded. */
  declareMeta(name: string, defaultValue: string | undefined): void {
    this.declared.add(name);
    this.meta.set(name, this.given(name) ?? defaultValue);
  }

  /** The value an ARG inside a stage takes; `defaultValue` already expanded. */
  declareInStage(name: string, defaultValue: string | undefined): string | undefined {
    this.declared.add(name);
    return this.given(name) ?? defaultValue ?? this.meta.get(name);
  }

  /** What FROM lines may expand: the global ARGs and the predefined ones given to the build. */
  metaLookup(name: string): string | undefined {
    return this.meta.has(name) ? this.meta.get(name) : this.predefined(name);
  }

  /** A predefined proxy variable's value, when the build was given one. */
  predefined(name: string): string | undefined {
    return PREDEFINED_ARGS.has(name) ? this.given(name) : undefined;
  }

  /** `KEY=value` of the predefined args given to the build (RUN sees them; the cache and history do not). */
  predefinedEnv(): string[] {
    return [...PREDEFINED_ARGS].flatMap((name) => {
      const value = this.given(name);
      return value === undefined ? [] : [`${name}=${value}`];
    });
  }

  /** Build args given but never declared (docker warns about them). */
  unused(): string[] {
    return Object.keys(this.provided)
      .filter((name) => !this.declared.has(name) && !PREDEFINED_ARGS.has(name))
      .sort();
  }
}
