/** `bunker volume create|ls|inspect|rm|prune`, printing what the docker CLI prints. */
import type { CAC } from "cac";
import { humanSize } from "../util/units";
import { clientFor, runCommand, type GlobalOptions } from "./context";
import { formatTable, parseFormat, renderTemplate, tableHeader } from "./template";

type Json = Record<string, unknown>;
type Opts = GlobalOptions & Record<string, unknown>;

/** Repeated options arrive as arrays, single ones as strings. */
function list(value: unknown): string[] {
  if (value === undefined || value === null || value === false || value === true) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** `key=value` words into an object (`--label`, `--opt`); a bare key gets "". */
function keyValues(words: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq < 0) out[word] = "";
    else out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

/** `-f key=value` flags as the API's filters JSON. */
function filtersJson(words: string[]): string | undefined {
  const filters: Record<string, string[]> = {};
  for (const word of words) {
    const eq = word.indexOf("=");
    const key = eq < 0 ? word : word.slice(0, eq);
    (filters[key] ??= []).push(eq < 0 ? "" : word.slice(eq + 1));
  }
  return Object.keys(filters).length ? JSON.stringify(filters) : undefined;
}

async function create(opts: Opts, name: string | undefined): Promise<void> {
  const volume = await clientFor(opts).json<Json>("POST", "/volumes/create", {
    body: { Name: name ?? "", Driver: String(opts.driver ?? "local"), DriverOpts: keyValues(list(opts.opt)), Labels: keyValues(list(opts.label)) },
  });
  console.log(volume.Name);
}

async function ls(opts: Opts): Promise<void> {
  const { Volumes } = await clientFor(opts).json<{ Volumes: Json[] }>("GET", "/volumes", { query: { filters: filtersJson(list(opts.filter)) } });
  if (opts.quiet) {
    for (const v of Volumes) console.log(v.Name);
    return;
  }
  const format = typeof opts.format === "string" ? opts.format : "table {{.Driver}}\t{{.Name}}";
  const { table, template } = parseFormat(format);
  const rows = Volumes.map((v) => renderTemplate(template, { ...v, Labels: labelsText(v.Labels) }).split("\t"));
  if (!table) return void process.stdout.write(rows.map((r) => `${r.join("\t")}\n`).join(""));
  process.stdout.write(formatTable([tableHeader(template, { Driver: "DRIVER", Name: "VOLUME NAME", Mountpoint: "MOUNTPOINT", CreatedAt: "CREATED" }).split("\t"), ...rows]));
}

function labelsText(labels: unknown): string {
  return Object.entries((labels as Record<string, string> | null) ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
}

async function inspect(opts: Opts, names: string[]): Promise<number> {
  const client = clientFor(opts);
  const found: Json[] = [];
  let failed = false;
  for (const name of names) {
    try {
      found.push(await client.json<Json>("GET", `/volumes/${encodeURIComponent(name)}`));
    } catch (err) {
      failed = true;
      process.stderr.write(`Error: ${(err as Error).message}\n`);
    }
  }
  if (typeof opts.format === "string") process.stdout.write(found.map((v) => `${renderTemplate(opts.format as string, v)}\n`).join(""));
  else console.log(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

async function rm(opts: Opts, names: string[]): Promise<number> {
  const client = clientFor(opts);
  let failed = false;
  for (const name of names) {
    try {
      await client.request("DELETE", `/volumes/${encodeURIComponent(name)}`, { query: { force: opts.force === true ? "1" : undefined } });
      console.log(name);
    } catch (err) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

async function prune(opts: Opts): Promise<number> {
  const all = opts.all === true;
  if (opts.force !== true) {
    process.stdout.write(
      `WARNING! This will remove ${all ? "all local volumes" : "anonymous local volumes"} not used by at least one container.\nAre you sure you want to continue? [y/N] `,
    );
    const answer = (await readLine()).trim().toLowerCase();
    if (answer !== "y" && answer !== "yes") return 0;
  }
  const words = list(opts.filter);
  if (all) words.push("all=true");
  const result = await clientFor(opts).json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>("POST", "/volumes/prune", { query: { filters: filtersJson(words) } });
  const deleted = result.VolumesDeleted ?? [];
  if (deleted.length) console.log(`Deleted Volumes:\n${deleted.join("\n")}\n`);
  console.log(`Total reclaimed space: ${humanSize(result.SpaceReclaimed)}`);
  return 0;
}

async function readLine(): Promise<string> {
  for await (const line of console) return line;
  return "";
}

export function registerVolumeCommands(cli: CAC): void {
  cli
    .command("volume <verb> [...args]", "Manage volumes (create, ls, inspect, rm, prune)")
    .option("-d, --driver <driver>", "Specify volume driver name (create)")
    .option("--label <label>", "Set metadata for a volume (create)")
    .option("-o, --opt <option>", "Set driver specific options (create)")
    .option("-q, --quiet", "Only display volume names (ls)")
    .option("--filter <filter>", "Provide filter values (ls, prune)")
    .option("--format <format>", "Format output using a Go template (ls, inspect)")
    .option("-a, --all", "Remove all unused volumes, not just anonymous ones (prune)")
    .allowUnknownOptions()
    .action((verb: string, args: string[], opts: Opts) =>
      runCommand(async () => {
        // -f means --filter for ls and --force for rm and prune, as in the docker CLI.
        const o: Opts = { ...opts, force: opts.force ?? (verb === "ls" || verb === "list" ? undefined : opts.f), filter: opts.filter ?? (verb === "ls" || verb === "list" ? opts.f : undefined) };
        switch (verb) {
          case "create":
            return create(o, args[0]);
          case "ls":
          case "list":
            return ls(o);
          case "inspect":
            return inspect(o, args);
          case "rm":
          case "remove":
            return rm(o, args);
          case "prune":
            return prune(o);
          default:
            throw new Error(`unknown volume command: ${verb}`);
        }
      }),
    );
}
