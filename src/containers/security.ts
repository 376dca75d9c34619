/**
 * `--security-opt`, `--cap-add/--cap-drop`, `--privileged` → capability masks, a compiled seccomp filter and
 * no_new_privs. The default profile compiles once per distinct capability set.
 */
import { resolveCapabilities } from "../../drivers/exec/caps";
import { compileSeccomp, DEFAULT_SECCOMP_PROFILE, parseSeccompProfile, SeccompProfileError, type SeccompProfile } from "../../drivers/exec/seccomp";
import type { CapabilitySets } from "../../drivers/exec/spec";
import { InvalidParameterError } from "../errors";
import type { HostConfig } from "./types";

export type SeccompChoice = { kind: "default" } | { kind: "unconfined" } | { kind: "custom"; text: string; profile: SeccompProfile };

export interface SecurityOptions {
  noNewPrivileges: boolean;
  seccomp: SeccompChoice;
  /** `systempaths=unconfined`: no masked or read-only /proc and /sys paths. */
  unmaskSystemPaths: boolean;
}

/** Split `key=value` (or the legacy `key:value`) at the first separator; JSON profiles contain both. */
function splitOption(opt: string): [string, string | undefined] {
  const eq = opt.indexOf("=");
  const colon = opt.indexOf(":");
  const at = eq >= 0 && (colon < 0 || eq < colon) ? eq : colon;
  return at < 0 ? [opt, undefined] : [opt.slice(0, at), opt.slice(at + 1)];
}

function bool(value: string | undefined, opt: string): boolean {
  if (value === undefined || value === "true") return true;
  if (value === "false") return false;
  throw new InvalidParameterError(`invalid --security-opt: ${JSON.stringify(opt)}`);
}

export function parseSecurityOpts(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: { kind: "default" }, unmaskSystemPaths: false };
  for (const opt of opts) {
    const [key, value] = splitOption(opt);
    switch (key) {
      case "no-new-privileges":
        out.noNewPrivileges = bool(value, opt);
        break;
      case "seccomp":
        if (value === undefined || value === "") throw new InvalidParameterError(`invalid --security-opt: ${JSON.stringify(opt)}`);
        if (value === "unconfined") out.seccomp = { kind: "unconfined" };
        else if (value === "builtin") out.seccomp = { kind: "default" };
        else {
          try {
            out.seccomp = { kind: "custom", text: value, profile: parseSeccompProfile(value) };
          } catch (err) {
            if (err instanceof SeccompProfileError) throw new InvalidParameterError(`Decoding seccomp profile failed: ${err.message}`);
            throw err;
          }
        }
        break;
      case "systempaths":
        if (value !== "unconfined") throw new InvalidParameterError(`invalid --security-opt: ${JSON.stringify(opt)}`);
        out.unmaskSystemPaths = true;
        break;
      // No LSM is driven by this engine: accepted so that scripts written for docker keep working.
      case "apparmor":
      case "label":
        break;
      default:
        throw new InvalidParameterError(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}

const compiled = new Map<string, Uint8Array>();

function seccompFilter(choice: SeccompChoice, capabilities: bigint): Uint8Array | undefined {
  if (choice.kind === "unconfined") return undefined;
  const profile = choice.kind === "default" ? DEFAULT_SECCOMP_PROFILE : choice.profile;
  const key = `${capabilities.toString(16)}:${choice.kind === "custom" ? Bun.hash(choice.text).toString(16) : "default"}`;
  let filter = compiled.get(key);
  if (!filter) {
    filter = compileSeccomp(profile, { capabilities }).filter;
    compiled.set(key, filter);
  }
  return filter;
}

export interface ProcessSecurity {
  capabilities: CapabilitySets;
  seccomp?: Uint8Array;
  noNewPrivileges: boolean;
  unmaskSystemPaths: boolean;
  /** Capabilities asked for by name that this host cannot grant. */
  unavailable: string[];
}

/** What a container's processes (its init and its execs) run with; `privileged` lifts seccomp. */
export function processSecurity(h: HostConfig, privilegedExec = false): ProcessSecurity {
  const opts = parseSecurityOpts(h.SecurityOpt ?? []);
  const privileged = h.Privileged || privilegedExec;
  const caps = resolveCapabilities({ add: h.CapAdd ?? [], drop: h.CapDrop ?? [], privileged });
  const capabilities: CapabilitySets = { effective: caps.effective, permitted: caps.permitted, inheritable: caps.inheritable, bounding: caps.bounding };
  const seccomp = h.Privileged ? undefined : seccompFilter(opts.seccomp, caps.bounding);
  return { capabilities, ...(seccomp ? { seccomp } : {}), noNewPrivileges: opts.noNewPrivileges, unmaskSystemPaths: opts.unmaskSystemPaths, unavailable: caps.unavailable };
}
