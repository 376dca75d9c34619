/**
 * Packet filtering and NAT for bridge networks, independent of the tool that programs it: callers hand
 * over `FirewallRule` values (firewall-rule.ts) and `detectFirewall()` picks nftables or iptables.
 */
import { netHost, type NetHost } from "./host";
import { withHostFirewallLock } from "./host-lock";
import { IptablesBackend } from "./iptables";
import { NftablesBackend } from "./nftables";
import { ownerOfComment, ruleComment, validateRule, FirewallError, type FirewallBackend, type FirewallKind, type FirewallRule } from "./firewall-rule";

export * from "./firewall-rule";

export interface FirewallChanges {
  added: number;
  removed: number;
}

export interface Firewall {
  readonly kind: FirewallKind;
  /** Install the rules that are not installed yet (idempotent). */
  add(rules: readonly FirewallRule[]): Promise<void>;
  /** Remove every rule of `owner` (a container or network id). */
  removeOwner(owner: string): Promise<void>;
  /** Make our installed rules exactly `expected`: remove the others of ours, add the missing, never duplicate. */
  reconcile(expected: readonly FirewallRule[]): Promise<FirewallChanges>;
  /** Comments (`bunker:<owner>:<hash>`) of our installed rules, one entry per FirewallRule. */
  installed(): Promise<Set<string>>;
  /** Remove everything of ours (tables, chains, jumps) and undo the ip_forward change if we made it. */
  cleanup(): Promise<void>;
  /** `cleanup`, but only when no engine on the host has a rule left (the last ephemeral engine to go). */
  cleanupIfUnused(): Promise<boolean>;
}

const IP_FORWARD = "net.ipv4.ip_forward";

export class RuleSetFirewall implements Firewall {
  /** Set when this instance turned ip_forward on, so `cleanup` can turn it back off. */
  ipForwardEnabledByUs = false;
  /** Changes are list-then-apply; running two at once could add a rule twice. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly backend: FirewallBackend,
    private readonly host: NetHost,
  ) {}

  get kind(): FirewallKind {
    return this.backend.kind;
  }

  add(rules: readonly FirewallRule[]): Promise<void> {
    const wanted = this.byComment(rules);
    return this.serial(async () => {
      await this.backend.ensureBase();
      for (const comment of await this.backend.list()) wanted.delete(comment);
      if (wanted.size) await this.backend.apply(wanted, new Set());
    });
  }

  removeOwner(owner: string): Promise<void> {
    return this.serial(async () => {
      const remove = new Set([...(await this.backend.list())].filter((c) => ownerOfComment(c) === owner));
      if (remove.size) await this.backend.apply(new Map(), remove);
    });
  }

  reconcile(expected: readonly FirewallRule[]): Promise<FirewallChanges> {
    const wanted = this.byComment(expected);
    return this.serial(async () => {
      await this.backend.ensureBase();
      const present = await this.backend.list();
      const remove = new Set([...present].filter((c) => !wanted.has(c)));
      for (const comment of present) wanted.delete(comment);
      if (wanted.size || remove.size) await this.backend.apply(wanted, remove);
      return { added: wanted.size, removed: remove.size };
    });
  }

  installed(): Promise<Set<string>> {
    return this.serial(() => this.backend.list());
  }

  cleanup(): Promise<void> {
    return this.serial(() => this.removeAll());
  }

  cleanupIfUnused(): Promise<boolean> {
    return this.serial(async () => {
      if ((await this.backend.list()).size > 0) return false;
      await this.removeAll();
      return true;
    });
  }

  private async removeAll(): Promise<void> {
    await this.backend.removeAll();
    if (this.ipForwardEnabledByUs) {
      this.host.writeSysctl(IP_FORWARD, "0");
      this.ipForwardEnabledByUs = false;
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => withHostFirewallLock(fn));
    this.queue = run.catch(() => {});
    return run;
  }

  private byComment(rules: readonly FirewallRule[]): Map<string, FirewallRule> {
    const out = new Map<string, FirewallRule>();
    for (const rule of rules) {
      validateRule(rule);
      out.set(ruleComment(rule), rule);
    }
    // Forwarding is off by default on Linux; NAT and published ports need it.
    if (rules.some((r) => r.kind === "masquerade" || r.kind === "dnat")) this.ensureIpForward();
    return out;
  }

  private ensureIpForward(): void {
    if (this.host.readSysctl(IP_FORWARD) === "1") return;
    this.host.writeSysctl(IP_FORWARD, "1");
    this.ipForwardEnabledByUs = true;
  }
}

// ---- choosing a backend ----

export interface DetectOptions {
  /** Force a tool; without it the host's existing rules decide. */
  prefer?: "nftables" | "iptables";
}

export interface FirewallProbe {
  nft: boolean;
  iptablesNft: boolean;
  iptablesLegacy: boolean;
  /** `-A` rules found in each iptables backend. */
  nftIptablesRules: number;
  legacyRules: number;
  /** The backend plain `iptables` runs, from `iptables -V`: "(nf_tables)" or "(legacy)". */
  iptablesDefault: "nft" | "legacy" | null;
}

async function available(host: NetHost, argv: string[]): Promise<boolean> {
  try {
    return (await host.run(argv)).code === 0;
  } catch {
    return false; // not installed: spawn itself fails
  }
}

const countRules = (save: string) => save.split("\n").filter((line) => line.startsWith("-A ")).length;

export async function probeFirewall(host: NetHost): Promise<FirewallProbe> {
  const [nft, iptablesNft, iptablesLegacy] = await Promise.all([
    available(host, ["nft", "--version"]),
    available(host, ["iptables-nft", "--version"]),
    available(host, ["iptables-legacy", "--version"]),
  ]);
  const nftIptablesRules = iptablesNft ? countRules((await host.run(["iptables-nft-save"])).stdout) : 0;
  // Reading legacy tables instantiates them in the kernel; only look when some already exist.
  const legacyTables = (await host.run(["cat", "/proc/net/ip_tables_names"])).stdout.trim();
  const legacyRules = iptablesLegacy && legacyTables ? countRules((await host.run(["iptables-legacy-save"])).stdout) : 0;
  const version = await host.run(["iptables", "-V"]).catch(() => null);
  const iptablesDefault = version?.stdout.includes("(nf_tables)") ? "nft" : version?.stdout.includes("(legacy)") ? "legacy" : null;
  return { nft, iptablesNft, iptablesLegacy, nftIptablesRules, legacyRules, iptablesDefault };
}

/**
 * Decide which firewall to drive. A host that already has iptables rules gets iptables on the backend
 * holding most of them: our rules have to sit in the same chains as the host's (a DROP policy on its
 * FORWARD chain would otherwise drop our traffic whatever our own nftables table says). Otherwise plain
 * nftables, with everything in our own table.
 */
export function chooseFirewall(probe: FirewallProbe, options: DetectOptions = {}): FirewallKind {
  // The backend holding more rules wins; on a tie, the one plain `iptables` uses on this host.
  const iptablesKind = (): FirewallKind | null => {
    const legacyFirst =
      probe.legacyRules !== probe.nftIptablesRules ? probe.legacyRules > probe.nftIptablesRules : probe.iptablesDefault === "legacy";
    if (probe.iptablesLegacy && (legacyFirst || !probe.iptablesNft)) return "iptables-legacy";
    return probe.iptablesNft ? "iptables-nft" : null;
  };
  const hostUsesIptables = probe.legacyRules + probe.nftIptablesRules > 0;
  const order: (FirewallKind | null)[] =
    options.prefer === "nftables" ? [probe.nft ? "nftables" : null]
    : options.prefer === "iptables" ? [iptablesKind()]
    : hostUsesIptables ? [iptablesKind(), probe.nft ? "nftables" : null]
    : [probe.nft ? "nftables" : null, iptablesKind()];
  const kind = order.find((k): k is FirewallKind => k !== null);
  if (!kind) throw new FirewallError(`no usable firewall tool found (wanted ${options.prefer ?? "nft or iptables"})`);
  return kind;
}

export function createFirewall(kind: FirewallKind, host: NetHost = netHost()): Firewall {
  const backend = kind === "nftables" ? new NftablesBackend(host) : new IptablesBackend(host, kind === "iptables-legacy" ? "legacy" : "nft");
  return new RuleSetFirewall(backend, host);
}

export async function detectFirewall(host: NetHost = netHost(), options: DetectOptions = {}): Promise<Firewall> {
  return createFirewall(chooseFirewall(await probeFirewall(host), options), host);
}
