/**
 * nftables backend: everything lives in our own table `ip bunker`, so cleanup is deleting one table and
 * nothing of the host's ruleset is ever edited.
 *
 * Changes are written as `nft -f -` scripts: a script is one kernel transaction (all of it applies or
 * none), and the native syntax keeps the rules readable next to `nft list ruleset`. Every value placed in
 * a script was validated first (validateRule), so no quoting games are needed. State is read back with
 * `nft -j`, whose JSON gives each rule's chain, handle and comment without parsing the text syntax.
 */
import { runChecked, type NetHost } from "./host";
import { BASE_OWNER, COMMENT_PREFIX, isWildcardHostIp, ownerOfComment, type FirewallBackend, type FirewallRule } from "./firewall-rule";

const TABLE = "ip bunker";

const CHAINS = [
  "chain prerouting { type nat hook prerouting priority dstnat; policy accept; }",
  // `dstnat` is not accepted as a name for the output hook by nft 1.0.6; -100 is its value.
  "chain output { type nat hook output priority -100; policy accept; }",
  "chain published { }",
  "chain postrouting { type nat hook postrouting priority srcnat; policy accept; }",
  "chain forward { type filter hook forward priority filter; policy accept; }",
  "chain isolation { }",
  "chain isolation2 { }",
];

const BASE_RULES: Record<string, [chain: string, rule: string]> = {
  prerouting: ["prerouting", "fib daddr type local jump published"],
  output: ["output", "ip daddr != 127.0.0.0/8 fib daddr type local jump published"],
  forward: ["forward", "jump isolation"],
};

type Rendered = [chain: string, rule: string];

function render(rule: FirewallRule): Rendered[] {
  const br = `"${rule.bridge}"`;
  switch (rule.kind) {
    case "masquerade":
      return [["postrouting", `ip saddr ${rule.subnet} oifname != ${br} masquerade`]];
    case "isolate":
      return [
        ["isolation", `iifname ${br} oifname != ${br} jump isolation2`],
        ["isolation2", `oifname ${br} drop`],
      ];
    case "internal":
      return [
        ["isolation", `iifname ${br} ip daddr != ${rule.subnet} drop`],
        ["isolation", `oifname ${br} ip saddr != ${rule.subnet} drop`],
      ];
    case "dnat": {
      const dest = isWildcardHostIp(rule.hostIp) ? "" : `ip daddr ${rule.hostIp} `;
      return [
        ["published", `${dest}${rule.proto} dport ${rule.hostPort} dnat to ${rule.containerIp}:${rule.containerPort}`],
        // Hairpin: a container reaching its own published port must see the reply come from the host.
        ["postrouting", `ip saddr ${rule.containerIp} ip daddr ${rule.containerIp} ${rule.proto} dport ${rule.containerPort} masquerade`],
      ];
    }
  }
}

interface ListedRule {
  chain: string;
  handle: number;
  comment: string;
}

interface NftJson {
  nftables?: { rule?: { chain?: string; handle?: number; comment?: string } }[];
}

export class NftablesBackend implements FirewallBackend {
  readonly kind = "nftables";

  constructor(private readonly host: NetHost) {}

  async ensureBase(): Promise<void> {
    const present = new Set((await this.listRules()).map((r) => r.comment));
    const lines = [`add table ${TABLE}`, ...CHAINS.map((c) => `add ${c.replace("chain ", `chain ${TABLE} `)}`)];
    for (const [name, [chain, rule]] of Object.entries(BASE_RULES)) {
      const comment = `${COMMENT_PREFIX}${BASE_OWNER}:${name}`;
      if (!present.has(comment)) lines.push(`add rule ${TABLE} ${chain} ${rule} comment "${comment}"`);
    }
    await this.script(lines);
  }

  async list(): Promise<Set<string>> {
    return new Set((await this.listRules()).map((r) => r.comment).filter((c) => ownerOfComment(c) !== BASE_OWNER));
  }

  async apply(add: ReadonlyMap<string, FirewallRule>, remove: ReadonlySet<string>): Promise<void> {
    const lines: string[] = [];
    if (remove.size) {
      for (const r of await this.listRules()) if (remove.has(r.comment)) lines.push(`delete rule ${TABLE} ${r.chain} handle ${r.handle}`);
    }
    for (const [comment, rule] of add) {
      for (const [chain, text] of render(rule)) lines.push(`add rule ${TABLE} ${chain} ${text} comment "${comment}"`);
    }
    if (lines.length) await this.script(lines);
  }

  async removeAll(): Promise<void> {
    // Adding first makes the delete succeed whether or not the table exists, in one transaction.
    await this.script([`add table ${TABLE}`, `delete table ${TABLE}`]);
  }

  private async listRules(): Promise<ListedRule[]> {
    const result = await this.host.run(["nft", "-j", "list", "table", ...TABLE.split(" ")]);
    if (result.code !== 0) {
      if (/No such file or directory/.test(result.stderr)) return [];
      throw new Error(`nft list table ${TABLE}: ${result.stderr.trim()}`);
    }
    const parsed = JSON.parse(result.stdout) as NftJson;
    const rules: ListedRule[] = [];
    for (const item of parsed.nftables ?? []) {
      const r = item.rule;
      if (r?.chain && r.handle !== undefined && r.comment?.startsWith(COMMENT_PREFIX)) rules.push({ chain: r.chain, handle: r.handle, comment: r.comment });
    }
    return rules;
  }

  private async script(lines: string[]): Promise<void> {
    await runChecked(this.host, ["nft", "-f", "-"], lines.join("\n") + "\n");
  }
}
