/** `ps`: docker's table (CONTAINER ID, IMAGE, COMMAND, CREATED, STATUS, PORTS, NAMES) or `--format`. */
import type { Client } from "../../client/client";
import { humanDuration } from "../../util/duration";
import { humanSize } from "../../util/units";
import { formatTable, parseFormat, renderTemplate, tableHeader } from "../template";
import { bool, list, str, type FlagSpec, type FlagValues } from "./argv";

export const PS_FLAGS: readonly FlagSpec[] = [
  { name: "all", short: "a", kind: "bool" },
  { name: "quiet", short: "q", kind: "bool" },
  { name: "last", short: "n", kind: "string" },
  { name: "latest", short: "l", kind: "bool" },
  { name: "size", short: "s", kind: "bool" },
  { name: "filter", short: "f", kind: "list" },
  { name: "format", kind: "string" },
  { name: "no-trunc", kind: "bool" },
];

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Created: number;
  State: string;
  Status: string;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
  Labels: Record<string, string>;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts: { Source: string; Destination: string }[];
  NetworkSettings: { Networks: Record<string, unknown> };
}

const HEADERS: Record<string, string> = {
  ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT", RunningFor: "CREATED", Ports: "PORTS",
  State: "STATE", Status: "STATUS", Size: "SIZE", Names: "NAMES", Labels: "LABELS", Mounts: "MOUNTS", Networks: "NETWORKS",
};
const DEFAULT_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

function ports(p: Summary["Ports"]): string {
  return p
    .map((x) => (x.PublicPort ? `${x.IP ? `${x.IP}:` : ""}${x.PublicPort}->${x.PrivatePort}/${x.Type}` : `${x.PrivatePort}/${x.Type}`))
    .join(", ");
}

function ellipsis(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The fields `--format` templates see, with docker's names and truncation. */
function row(c: Summary, noTrunc: boolean): Record<string, string> {
  const created = new Date(c.Created * 1000);
  return {
    ID: noTrunc ? c.Id : c.Id.slice(0, 12),
    Image: c.Image,
    Command: `"${noTrunc ? c.Command : ellipsis(c.Command, 20)}"`,
    CreatedAt: created.toISOString().replace("T", " ").replace(/\.\d+Z$/, " +0000 UTC"),
    RunningFor: `${humanDuration(Date.now() - c.Created * 1000)} ago`,
    Ports: ports(c.Ports),
    State: c.State,
    Status: c.Status,
    Size: c.SizeRw === undefined ? "0B" : `${humanSize(c.SizeRw, 3)} (virtual ${humanSize(c.SizeRootFs ?? 0, 3)})`,
    Names: c.Names.map((n) => n.replace(/^\//, "")).join(","),
    Labels: Object.entries(c.Labels).map(([k, v]) => `${k}=${v}`).join(","),
    Mounts: c.Mounts.map((m) => m.Source || m.Destination).join(","),
    Networks: Object.keys(c.NetworkSettings.Networks).join(","),
  };
}

export async function psCommand(client: Client, flags: FlagValues): Promise<number> {
  const filters: Record<string, string[]> = {};
  for (const f of list(flags.filter)) {
    const eq = f.indexOf("=");
    (filters[eq < 0 ? f : f.slice(0, eq)] ??= []).push(eq < 0 ? "" : f.slice(eq + 1));
  }
  const last = bool(flags.latest) ? 1 : Number(str(flags.last) ?? -1);
  const list_ = await client.json<Summary[]>("GET", "/containers/json", {
    query: {
      all: bool(flags.all) || undefined,
      limit: last > 0 ? last : undefined,
      size: bool(flags.size) || undefined,
      filters: Object.keys(filters).length > 0 ? JSON.stringify(filters) : undefined,
    },
  });
  const noTrunc = bool(flags["no-trunc"]);
  if (bool(flags.quiet)) {
    for (const c of list_) console.log(noTrunc ? c.Id : c.Id.slice(0, 12));
    return 0;
  }
  const format = str(flags.format) ?? (bool(flags.size) ? `${DEFAULT_TABLE}\t{{.Size}}` : DEFAULT_TABLE);
  const { table, template } = parseFormat(format);
  const rows = list_.map((c) => renderTemplate(template, row(c, noTrunc)));
  if (!table) {
    for (const r of rows) console.log(r);
    return 0;
  }
  const lines = [tableHeader(template, HEADERS), ...rows].map((l) => l.split("\t"));
  process.stdout.write(formatTable(lines));
  return 0;
}
