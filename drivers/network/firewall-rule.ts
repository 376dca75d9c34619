/**
 * What the network driver asks of a firewall, as data. A backend (nftables.ts, iptables.ts) renders each
 * `FirewallRule` into one or more kernel rules that all carry the comment `bunker:<owner>:<hash of the
 * rule>`. The comment is the rule's identity: it lets removal and reconciliation find exactly our rules
 * again, after a daemon restart too, without ever touching rules that are not ours.
 */
import { isIpv4, parseCidr } from "./ipv4";

export type Protocol = "tcp" | "udp" | "sctp";

export type FirewallRule =
  /** Outbound NAT (and forwarding) for a bridge network's subnet. */
  | { kind: "masquerade"; owner: string; bridge: string; subnet: string }
  /** Traffic between this bridge and any other isolated bridge is dropped. */
  | { kind: "isolate"; owner: string; bridge: string }
  /** `--internal`: nothing is forwarded into or out of the subnet through the bridge. */
  | { kind: "internal"; owner: string; bridge: string; subnet: string }
  /**
   * A published port: traffic to a local address (`hostIp`, or any local address when it is "" or
   * 0.0.0.0) on `hostPort` goes to the container. Loopback host addresses cannot be reached by DNAT; those
   * are served by the userland proxy instead.
   */
  | { kind: "dnat"; owner: string; bridge: string; proto: Protocol; hostIp: string; hostPort: number; containerIp: string; containerPort: number };

export type FirewallKind = "nftables" | "iptables-nft" | "iptables-legacy";

export class FirewallError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FirewallError";
  }
}

export const COMMENT_PREFIX = "bunker:";
/** Rules every backend needs once (jumps from the built-in hooks) use this owner. */
export const BASE_OWNER = "base";

const SAFE_OWNER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/;
const SAFE_IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** Reject anything that could break out of a rule's syntax; rules are rendered as text. */
export function validateRule(rule: FirewallRule): void {
  const bad = (what: string) => new FirewallError(`invalid firewall rule (${what}): ${JSON.stringify(rule)}`);
  if (!SAFE_OWNER.test(rule.owner) || rule.owner === BASE_OWNER) throw bad("owner");
  if (!SAFE_IFNAME.test(rule.bridge)) throw bad("bridge");
  if (rule.kind === "masquerade" || rule.kind === "internal") {
    try {
      parseCidr(rule.subnet);
    } catch {
      throw bad("subnet");
    }
  }
  if (rule.kind === "dnat") {
    if (!["tcp", "udp", "sctp"].includes(rule.proto)) throw bad("proto");
    if (rule.hostIp !== "" && !isIpv4(rule.hostIp)) throw bad("hostIp");
    if (!isIpv4(rule.containerIp)) throw bad("containerIp");
    for (const port of [rule.hostPort, rule.containerPort]) if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad("port");
  }
}

/**
 * The identity of a rule: its owner plus a hash of everything it says. Keys are ordered by code unit (the same
 * order localeCompare gave these ASCII names, so comments made by older daemons still match), which needs no ICU
 * collator in the daemon.
 */
export function ruleComment(rule: FirewallRule): string {
  const canonical = JSON.stringify(Object.entries(rule).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `${COMMENT_PREFIX}${rule.owner}:${new Bun.CryptoHasher("sha256").update(canonical).digest("hex").slice(0, 12)}`;
}

export function ownerOfComment(comment: string): string | null {
  if (!comment.startsWith(COMMENT_PREFIX)) return null;
  const rest = comment.slice(COMMENT_PREFIX.length);
  const colon = rest.lastIndexOf(":");
  return colon < 0 ? null : rest.slice(0, colon);
}

/** "" and 0.0.0.0 both mean every local address. */
export function isWildcardHostIp(hostIp: string): boolean {
  return hostIp === "" || hostIp === "0.0.0.0";
}

/** What a backend must do; `RuleSetFirewall` adds the bookkeeping shared by all of them. */
export interface FirewallBackend {
  readonly kind: FirewallKind;
  /** Create our tables/chains and base jumps if missing, leaving existing rules of ours alone. */
  ensureBase(): Promise<void>;
  /** Our installed rules, keyed by comment (base rules excluded). */
  list(): Promise<Set<string>>;
  /** In one transaction: delete every kernel rule whose comment is in `remove`, add `add`. */
  apply(add: ReadonlyMap<string, FirewallRule>, remove: ReadonlySet<string>): Promise<void>;
  /** Delete all of ours. */
  removeAll(): Promise<void>;
}

