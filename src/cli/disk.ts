/** `bunker system df` and `bunker system prune`: what the engine's data takes on disk, and freeing what is unused. */
import type { Client } from "../client/client";
import { humanSize } from "../util/units";
import { formatTable } from "./template";

interface DiskUsage {
  LayersSize: number;
  Images: { Size: number; SharedSize: number; Containers: number }[] | null;
  Containers: { State: string; SizeRw?: number }[] | null;
  Volumes: { UsageData?: { Size: number; RefCount: number } }[] | null;
  BuildCache: { Size: number; InUse: boolean; Shared: boolean }[] | null;
}

interface Row {
  type: string;
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

function rows(df: DiskUsage): Row[] {
  const images = df.Images ?? [];
  const used = images.filter((i) => i.Containers > 0);
  const usedBytes = used.reduce((n, i) => n + i.Size - i.SharedSize, 0) + Math.max(0, ...used.map((i) => i.SharedSize));
  const containers = df.Containers ?? [];
  const volumes = df.Volumes ?? [];
  const cache = (df.BuildCache ?? []).filter((b) => !b.Shared);
  return [
    { type: "Images", total: images.length, active: used.length, size: df.LayersSize, reclaimable: Math.max(0, df.LayersSize - usedBytes) },
    {
      type: "Containers",
      total: containers.length,
      active: containers.filter((c) => c.State === "running" || c.State === "paused").length,
      size: containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0),
      reclaimable: containers.filter((c) => c.State !== "running" && c.State !== "paused").reduce((n, c) => n + (c.SizeRw ?? 0), 0),
    },
    {
      type: "Local Volumes",
      total: volumes.length,
      active: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      size: volumes.reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0),
      reclaimable: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + Math.max(0, v.UsageData?.Size ?? 0), 0),
    },
    { type: "Build Cache", total: cache.length, active: cache.filter((b) => b.InUse).length, size: cache.reduce((n, b) => n + b.Size, 0), reclaimable: cache.filter((b) => !b.InUse).reduce((n, b) => n + b.Size, 0) },
  ];
}

export async function diskUsageCommand(client: Client, format: string | undefined): Promise<void> {
  const df = await client.json<DiskUsage>("GET", "/system/df");
  const table = rows(df);
  if (format === "json") {
    for (const r of table) console.log(JSON.stringify({ Type: r.type, TotalCount: String(r.total), Active: String(r.active), Size: humanSize(r.size), Reclaimable: humanSize(r.reclaimable) }));
    return;
  }
  const percent = (r: Row) => (r.size > 0 ? ` (${Math.round((r.reclaimable * 100) / r.size)}%)` : "");
  process.stdout.write(
    formatTable([["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], ...table.map((r) => [r.type, String(r.total), String(r.active), humanSize(r.size), `${humanSize(r.reclaimable)}${r.type === "Images" || r.type === "Local Volumes" ? percent(r) : ""}`])]),
  );
}

export interface PruneOptions {
  all: boolean;
  volumes: boolean;
  force: boolean;
  filters: Record<string, string[]>;
}

/** docker's `system prune`: stopped containers, unused networks, (anonymous volumes), dangling or unused images, build cache. */
export async function systemPruneCommand(client: Client, options: PruneOptions, confirm: (question: string) => Promise<boolean>): Promise<void> {
  if (!options.force) {
    const what = ["all stopped containers", "all networks not used by at least one container", ...(options.volumes ? ["all anonymous volumes not used by at least one container"] : []), options.all ? "all images without at least one container associated to them" : "all dangling images", options.all ? "all build cache" : "unused build cache"];
    if (!(await confirm(`WARNING! This will remove:\n${what.map((w) => `  - ${w}\n`).join("")}\nAre you sure you want to continue? [y/N] `))) return;
  }
  const filters = (extra: Record<string, string[]> = {}) => {
    const merged = { ...options.filters, ...extra };
    return Object.keys(merged).length > 0 ? JSON.stringify(merged) : undefined;
  };
  let reclaimed = 0;
  const containers = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/containers/prune", { query: { filters: filters() } });
  printList("Deleted Containers", containers.ContainersDeleted);
  reclaimed += containers.SpaceReclaimed;
  const networks = await client.json<{ NetworksDeleted: string[] | null }>("POST", "/networks/prune", { query: { filters: filters() } });
  printList("Deleted Networks", networks.NetworksDeleted);
  if (options.volumes) {
    const volumes = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/volumes/prune", { query: { filters: filters() } });
    printList("Deleted Volumes", volumes.VolumesDeleted);
    reclaimed += volumes.SpaceReclaimed;
  }
  const images = await client.json<{ ImagesDeleted: Record<string, string>[] | null; SpaceReclaimed: number }>("POST", "/images/prune", { query: { filters: filters({ dangling: [String(!options.all)] }) } });
  printList("Deleted Images", (images.ImagesDeleted ?? []).map((i) => Object.entries(i).map(([k, v]) => `${k.toLowerCase()}: ${v}`).join("")));
  reclaimed += images.SpaceReclaimed;
  const cache = await client.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/build/prune", { query: { all: options.all || undefined } });
  printList("Deleted build cache objects", cache.CachesDeleted);
  reclaimed += cache.SpaceReclaimed;
  console.log(`Total reclaimed space: ${humanSize(reclaimed)}`);
}

function printList(title: string, items: string[] | null): void {
  if (items && items.length > 0) console.log(`${title}:\n${items.join("\n")}\n`);
}
