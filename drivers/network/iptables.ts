/**
 * iptables backend, for hosts whose firewall already lives in iptables (Docker's own default). Our rules
 * sit in chains of our own (BUNKER, BUNKER-POSTROUTING, BUNKER-FORWARD, BUNKER-ISOLATION-1/2) reached from
 * the built-in chains by jump rules; the jumps into FORWARD are inserted first so a host DROP policy or
 * rule further down does not swallow container traffic.
 *
 * Changes go through `iptables-restore --noflush` (one run per change, one commit per table) on the
 * backend chosen at detection: iptables-nft and iptables-legacy keep separate tables, and mixing them
 * would leave rules invisible to half of the host's tools. Chains are only declared when missing because
 * restore flushes a declared chain that already exists.
 */
import { runChecked, type NetHost } from "./host";
import { BASE_OWNER, COMMENT_PREFIX, isWildcardHostIp, ownerOfComment, type FirewallBackend, type FirewallRule } from "./firewall-rule";

type Table = "nat" | "filter";

const OUR_CHAINS: Record<Table, string[]> = {
  nat: ["BUNKER", "BUNKER-POSTROUTING"],
  filter: ["BUNKER-FORWARD", "BUNKER-ISOLATION-1", "BUNKER-ISOLATION-2"],
};

interface Rendered {
  table: Table;
  chain: string;
  match: string;
  target: string;
}

const base = (name: string) => `${COMMENT_PREFIX}${BASE_OWNER}:${name}`;

/** Jumps from built-in chains; the FORWARD pair is handled together because their order matters. */
const BASE_NAT: Record<string, Rendered> = {
  prerouting: { table: "nat", chain: "PREROUTING", match: "-m addrtype --dst-type LOCAL", target: "BUNKER" },
  output: { table: "nat", chain: "OUTPUT", match: "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL", target: "BUNKER" },
  postrouting: { table: "nat", chain: "POSTROUTING", match: "", target: "BUNKER-POSTROUTING" },
};
const FORWARD_JUMPS: [name: string, target: string][] = [
  ["isolation", "BUNKER-ISOLATION-1"],
  ["forward", "BUNKER-FORWARD"],
];

function render(rule: FirewallRule): Rendered[] {
  const br = rule.bridge;
  const filter = (chain: string, match: string, target: string): Rendered => ({ table: "filter", chain, match, target });
  const nat = (chain: string, match: string, target: string): Rendered => ({ table: "nat", chain, match, target });
  switch (rule.kind) {
    case "masquerade":
      return [
        nat("BUNKER-POSTROUTING", `-s ${rule.subnet} ! -o ${br}`, "MASQUERADE"),
        filter("BUNKER-FORWARD", `-o ${br} -m conntrack --ctstate RELATED,ESTABLISHED`, "ACCEPT"),
        filter("BUNKER-FORWARD", `-i ${br} ! -o ${br}`, "ACCEPT"),
        filter("BUNKER-FORWARD", `-i ${br} -o ${br}`, "ACCEPT"),
      ];
    case "isolate":
      return [filter("BUNKER-ISOLATION-1", `-i ${br} ! -o ${br}`, "BUNKER-ISOLATION-2"), filter("BUNKER-ISOLATION-2", `-o ${br}`, "DROP")];
    case "internal":
      return [
        filter("BUNKER-ISOLATION-1", `-i ${br} ! -d ${rule.subnet}`, "DROP"),
        filter("BUNKER-ISOLATION-1", `-o ${br} ! -s ${rule.subnet}`, "DROP"),
        filter("BUNKER-FORWARD", `-i ${br} -o ${br}`, "ACCEPT"),
      ];
    case "dnat": {
      const p = `-p ${rule.proto} -m ${rule.proto}`;
      const dest = isWildcardHostIp(rule.hostIp) ? "" : `-d ${rule.hostIp}/32 `;
      const cip = `${rule.containerIp}/32`;
      return [
        nat("BUNKER", `${dest}${p} --dport ${rule.hostPort}`, `DNAT --to-destination ${rule.containerIp}:${rule.containerPort}`),
        nat("BUNKER-POSTROUTING", `-s ${cip} -d ${cip} ${p} --dport ${rule.containerPort}`, "MASQUERADE"),
        filter("BUNKER-FORWARD", `-d ${cip} ! -i ${br} -o ${br} ${p} --dport ${rule.containerPort}`, "ACCEPT"),
      ];
    }
  }
}

function ruleArgs(r: Rendered, comment: string): string {
  return `${r.match ? `${r.match} ` : ""}-m comment --comment ${comment} -j ${r.target}`;
}

interface SavedRule {
  table: Table;
  /** The rule as iptables-save prints it, after "-A ". */
  spec: string;
  comment: string;
}

interface Saved {
  chains: Record<Table, Set<string>>;
  rules: SavedRule[];
}

const COMMENT_IN_SAVE = /--comment "?([^"\s]+)"?/;

function parseSave(text: string): Saved {
  const saved: Saved = { chains: { nat: new Set(), filter: new Set() }, rules: [] };
  let table: Table | null = null;
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) table = line === "*nat" || line === "*filter" ? (line.slice(1) as Table) : null;
    if (!table) continue;
    if (line.startsWith(":")) saved.chains[table].add(line.slice(1).split(" ")[0]!);
    const comment = line.startsWith("-A ") ? COMMENT_IN_SAVE.exec(line)?.[1] : undefined;
    if (comment?.startsWith(COMMENT_PREFIX)) saved.rules.push({ table, spec: line.slice(3), comment });
  }
  return saved;
}

export class IptablesBackend implements FirewallBackend {
  readonly kind: "iptables-nft" | "iptables-legacy";

  constructor(
    private readonly host: NetHost,
    private readonly variant: "nft" | "legacy",
  ) {
    this.kind = `iptables-${variant}`;
  }

  async ensureBase(): Promise<void> {
    const saved = await this.save();
    const present = new Set(saved.rules.map((r) => r.comment));
    const out = this.batch();
    for (const table of ["nat", "filter"] as const) {
      for (const chain of OUR_CHAINS[table]) if (!saved.chains[table].has(chain)) out[table].push(`:${chain} - [0:0]`);
    }
    for (const [name, r] of Object.entries(BASE_NAT)) {
      if (!present.has(base(name))) out.nat.push(`-A ${r.chain} ${ruleArgs(r, base(name))}`);
    }
    if (!FORWARD_JUMPS.every(([name]) => present.has(base(name)))) {
      for (const r of saved.rules) if (FORWARD_JUMPS.some(([name]) => r.comment === base(name))) out.filter.push(`-D ${r.spec}`);
      // Inserted in reverse so that isolation ends up first.
      for (const [name, target] of [...FORWARD_JUMPS].reverse()) out.filter.push(`-I FORWARD 1 -m comment --comment ${base(name)} -j ${target}`);
    }
    await this.restore(out);
  }

  async list(): Promise<Set<string>> {
    const saved = await this.save();
    return new Set(saved.rules.map((r) => r.comment).filter((c) => ownerOfComment(c) !== BASE_OWNER));
  }

  async apply(add: ReadonlyMap<string, FirewallRule>, remove: ReadonlySet<string>): Promise<void> {
    const out = this.batch();
    if (remove.size) for (const r of (await this.save()).rules) if (remove.has(r.comment)) out[r.table].push(`-D ${r.spec}`);
    for (const [comment, rule] of add) for (const r of render(rule)) out[r.table].push(`-A ${r.chain} ${ruleArgs(r, comment)}`);
    await this.restore(out);
  }

  async removeAll(): Promise<void> {
    const saved = await this.save();
    const out = this.batch();
    for (const r of saved.rules) out[r.table].push(`-D ${r.spec}`);
    for (const table of ["nat", "filter"] as const) {
      const ours = OUR_CHAINS[table].filter((c) => saved.chains[table].has(c));
      // Flush all before deleting any: our chains jump to each other.
      for (const chain of ours) out[table].push(`-F ${chain}`);
      for (const chain of ours) out[table].push(`-X ${chain}`);
    }
    await this.restore(out);
  }

  private batch(): Record<Table, string[]> {
    return { nat: [], filter: [] };
  }

  private async save(): Promise<Saved> {
    return parseSave(await runChecked(this.host, [`iptables-${this.variant}-save`]));
  }

  private async restore(batch: Record<Table, string[]>): Promise<void> {
    const tables = (["nat", "filter"] as const).filter((t) => batch[t].length);
    if (!tables.length) return;
    const input = tables.map((t) => [`*${t}`, ...batch[t], "COMMIT"].join("\n")).join("\n") + "\n";
    await runChecked(this.host, [`iptables-${this.variant}-restore`, "--noflush", "--wait"], input);
  }
}
