import type { CAC } from "cac";
import type { Client } from "../client/client";
import { humanDuration } from "../util/duration";
import { humanSize } from "../util/units";
import { renameSync } from "node:fs";
import { clientFor, runCommand, type GlobalOptions } from "./context";
import { registryAuthHeader, removeCredentials, saveCredentials, serverKey, serverOfReference } from "./credentials";
import { renderProgress, type WireMessage } from "./progress";
import { formatTable, parseFormat, renderTemplate, tableHeader } from "./template";

type Json = Record<string, unknown>;
type Opts = GlobalOptions & Record<string, unknown>;

/** Repeated options arrive as arrays, single ones as strings. */
function list(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

function str(value: unknown): string | undefined {
  return value === undefined || value === null || value === true || value === false ? undefined : String(value);
}

/**
 * cac gives a kebab-case boolean flag the next word as its value (`--password-stdin host`): read the flag as
 * set, and hand the word back as the positional argument it was.
 */
function flagAndWord(opts: Opts, key: string, positional: string | undefined): { set: boolean; word: string | undefined } {
  const value = opts[key];
  if (typeof value === "string") return { set: true, word: positional ?? value };
  return { set: value === true, word: positional };
}

const shortId = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);
const ago = (seconds: number) => `${humanDuration(Date.now() - seconds * 1000)} ago`;
const size3 = (bytes: number) => humanSize(bytes, 3);

/** `name[:tag|@digest]` → repository and tag-or-digest, the way the CLI sends pulls (tag defaults to latest). */
export function splitReference(name: string): { repo: string; tag: string | undefined } {
  const at = name.indexOf("@");
  if (at >= 0) return { repo: name.slice(0, at), tag: name.slice(at + 1) };
  const colon = name.lastIndexOf(":");
  if (colon > name.lastIndexOf("/")) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: undefined };
}

/** docker prints the full name of what it pulled: `docker.io/library/busybox:latest`. */
function fullName(name: string): string {
  const { repo, tag } = splitReference(name);
  const slash = repo.indexOf("/");
  const first = repo.slice(0, slash);
  const hasHost = slash > 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  const qualified = hasHost ? repo : `docker.io/${repo.includes("/") ? repo : `library/${repo}`}`;
  return tag === undefined ? `${qualified}:latest` : name.includes("@") ? `${qualified}@${tag}` : `${qualified}:${tag}`;
}

async function streamProgress(client: Client, res: Response, quiet = false): Promise<Record<string, unknown>[]> {
  const sink = quiet ? { write: () => true } : process.stdout;
  return renderProgress(client.jsonLines<WireMessage>(res), sink, !quiet && process.stdout.isTTY === true);
}

async function pull(opts: Opts, name: string): Promise<void> {
  const client = clientFor(opts);
  const { repo, tag } = splitReference(name);
  const res = await client.request("POST", "/images/create", {
    query: { fromImage: repo, tag: tag ?? "latest", platform: str(opts.platform) },
    headers: { "X-Registry-Auth": registryAuthHeader(serverOfReference(name)) },
  });
  await streamProgress(client, res, opts.quiet === true);
  console.log(fullName(name));
}

async function push(opts: Opts, nameArg: string | undefined): Promise<void> {
  const allTags = flagAndWord(opts, "allTags", nameArg);
  const name = allTags.word;
  if (!name) throw new Error('"push" requires exactly 1 argument: NAME[:TAG]');
  const client = clientFor(opts);
  let { repo, tag } = splitReference(name);
  if (tag === undefined && !allTags.set) {
    tag = "latest";
    console.log("Using default tag: latest");
  }
  const res = await client.request("POST", `/images/${repo}/push`, {
    query: { tag },
    headers: { "X-Registry-Auth": registryAuthHeader(serverOfReference(name)) },
  });
  await streamProgress(client, res, opts.quiet === true);
  if (opts.quiet === true) console.log(name);
}

interface ImageRow {
  Repository: string;
  Tag: string;
  Digest: string;
  ID: string;
  CreatedSince: string;
  CreatedAt: string;
  Size: string;
}

const IMAGE_HEADERS: Record<string, string> = { ID: "IMAGE ID", CreatedSince: "CREATED", CreatedAt: "CREATED AT", Repository: "REPOSITORY", Tag: "TAG", Size: "SIZE", Digest: "DIGEST" };

function imageRows(images: Json[], trunc: boolean): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const image of images) {
    const id = String(image.Id);
    const common = {
      ID: trunc ? shortId(id) : id,
      CreatedSince: ago(Number(image.Created)),
      CreatedAt: new Date(Number(image.Created) * 1000).toISOString(),
      Size: size3(Number(image.Size)),
    };
    const tags = (image.RepoTags as string[] | null) ?? [];
    const digests = (image.RepoDigests as string[] | null) ?? [];
    const digestOf = (repo: string) => digests.find((d) => d.startsWith(`${repo}@`))?.split("@")[1] ?? "<none>";
    if (tags.length === 0) {
      const repo = digests[0]?.split("@")[0] ?? "<none>";
      rows.push({ Repository: repo, Tag: "<none>", Digest: digests[0]?.split("@")[1] ?? "<none>", ...common });
    }
    for (const t of tags) {
      const { repo, tag } = splitReference(t);
      rows.push({ Repository: repo, Tag: tag ?? "<none>", Digest: digestOf(repo), ...common });
    }
  }
  return rows;
}

async function images(opts: Opts, repository: string | undefined): Promise<void> {
  const filters: Record<string, string[]> = {};
  for (const f of list(opts.filter)) {
    const eq = f.indexOf("=");
    (filters[eq < 0 ? f : f.slice(0, eq)] ??= []).push(eq < 0 ? "" : f.slice(eq + 1));
  }
  if (repository) (filters.reference ??= []).push(repository);
  const result = await clientFor(opts).json<Json[]>("GET", "/images/json", {
    query: { all: opts.all === true, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
  });
  const rows = imageRows(result, opts.trunc !== false);
  if (opts.quiet === true) {
    process.stdout.write(rows.map((r) => `${r.ID}\n`).join(""));
    return;
  }
  const format = str(opts.format) ?? (opts.digests === true ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}" : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}");
  printRows(format, rows, IMAGE_HEADERS);
}

function printRows(format: string, rows: object[], headers: Record<string, string>): void {
  const { table, template } = parseFormat(format);
  if (!table) {
    process.stdout.write(rows.map((r) => `${renderTemplate(template, r)}\n`).join(""));
    return;
  }
  const cells = [tableHeader(template, headers).split("\t"), ...rows.map((r) => renderTemplate(template, r).split("\t"))];
  process.stdout.write(formatTable(cells));
}

async function rmi(opts: Opts, names: string[]): Promise<number> {
  const client = clientFor(opts);
  let failed = false;
  for (const name of names) {
    try {
      const items = await client.json<Json[]>("DELETE", `/images/${name}`, { query: { force: opts.force === true, noprune: opts.prune === false } });
      for (const item of items) console.log("Untagged" in item ? `Untagged: ${item.Untagged}` : `Deleted: ${item.Deleted}`);
    } catch (err) {
      failed = true;
      process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
    }
  }
  return failed ? 1 : 0;
}

async function tag(opts: Opts, source: string, target: string): Promise<void> {
  const { repo, tag } = splitReference(target);
  await clientFor(opts).request("POST", `/images/${source}/tag`, { query: { repo, tag } });
}

async function inspect(opts: Opts, names: string[]): Promise<number> {
  const client = clientFor(opts);
  const found: Json[] = [];
  let missing = false;
  for (const name of names) {
    try {
      found.push(await client.json<Json>("GET", `/images/${name}/json`));
    } catch (err) {
      missing = true;
      process.stderr.write(`Error: ${(err as Error).message}\n`);
    }
  }
  const format = str(opts.format);
  if (format) process.stdout.write(found.map((i) => `${renderTemplate(format, i)}\n`).join(""));
  else console.log(JSON.stringify(found, null, 4));
  return missing ? 1 : 0;
}

async function history(opts: Opts, name: string): Promise<void> {
  const entries = await clientFor(opts).json<Json[]>("GET", `/images/${name}/history`);
  const trunc = opts.trunc !== false;
  const human = opts.human !== false;
  const rows = entries.map((h) => {
    const id = String(h.Id);
    const createdBy = String(h.CreatedBy ?? "").replaceAll("\t", " ");
    return {
      ID: id === "<missing>" ? id : trunc ? shortId(id) : id,
      CreatedSince: human ? ago(Number(h.Created)) : new Date(Number(h.Created) * 1000).toISOString(),
      CreatedBy: trunc && createdBy.length > 45 ? `${createdBy.slice(0, 44)}…` : createdBy,
      Size: human ? size3(Number(h.Size)) : String(h.Size),
      Comment: String(h.Comment ?? ""),
    };
  });
  if (opts.quiet === true) {
    process.stdout.write(rows.map((r) => `${r.ID}\n`).join(""));
    return;
  }
  printRows(str(opts.format) ?? "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", rows, { ID: "IMAGE", CreatedSince: "CREATED", CreatedBy: "CREATED BY", Size: "SIZE", Comment: "COMMENT" });
}

async function save(opts: Opts, names: string[]): Promise<void> {
  const output = str(opts.output);
  if (!output && process.stdout.isTTY) throw new Error("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  const res = await clientFor(opts).request("GET", "/images/get", { query: { names } });
  if (output) {
    const temp = `${output}.${process.pid}.tmp`;
    await Bun.write(temp, res);
    renameSync(temp, output);
  } else {
    await Bun.write(Bun.stdout, res);
  }
}

function inputBody(path: string | undefined): Blob | ReadableStream<Uint8Array> {
  if (path && path !== "-") return Bun.file(path);
  if (process.stdin.isTTY) throw new Error("requested load from stdin, but stdin is empty");
  return Bun.stdin.stream();
}

async function load(opts: Opts): Promise<void> {
  const client = clientFor(opts);
  const input = str(opts.input);
  const res = await client.request("POST", "/images/load", {
    query: { quiet: opts.quiet === true || !process.stdout.isTTY },
    rawBody: inputBody(input),
    headers: { "Content-Type": "application/x-tar" },
  });
  await streamProgress(client, res);
}

async function importImage(opts: Opts, file: string, reference: string | undefined): Promise<void> {
  const client = clientFor(opts);
  const { repo, tag } = reference ? splitReference(reference) : { repo: undefined, tag: undefined };
  const isUrl = /^https?:\/\//.test(file);
  const res = await client.request("POST", "/images/create", {
    query: { fromSrc: isUrl ? file : "-", repo, tag, message: str(opts.message), changes: list(opts.change), platform: str(opts.platform) },
    rawBody: isUrl ? undefined : inputBody(file),
    headers: { "Content-Type": "application/x-tar" },
  });
  await streamProgress(client, res);
}

async function search(opts: Opts, term: string): Promise<void> {
  const filters: Record<string, string[]> = {};
  for (const f of list(opts.filter)) {
    const eq = f.indexOf("=");
    (filters[f.slice(0, eq)] ??= []).push(f.slice(eq + 1));
  }
  const results = await clientFor(opts).json<Json[]>("GET", "/images/search", {
    query: { term, limit: str(opts.limit), filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    headers: { "X-Registry-Auth": registryAuthHeader(serverOfReference(term)) },
  });
  const rows = results.map((r) => {
    const description = String(r.description ?? "");
    return {
      Name: String(r.name),
      Description: opts.trunc !== false && description.length > 45 ? `${description.slice(0, 44)}…` : description,
      StarCount: String(r.star_count ?? 0),
      IsOfficial: r.is_official === true ? "[OK]" : "",
    };
  });
  printRows(str(opts.format) ?? "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", rows, { Name: "NAME", Description: "DESCRIPTION", StarCount: "STARS", IsOfficial: "OFFICIAL" });
}

async function login(opts: Opts, server: string | undefined): Promise<void> {
  const stdin = flagAndWord(opts, "passwordStdin", server);
  server = stdin.word;
  const username = str(opts.username);
  let password = str(opts.password);
  if (stdin.set) password = (await Bun.stdin.text()).replace(/\r?\n$/, "");
  if (!username || password === undefined) throw new Error("username and password are required (-u and -p or --password-stdin)");
  if (str(opts.password)) process.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  const key = serverKey(server);
  const result = await clientFor(opts).json<{ Status: string }>("POST", "/auth", { body: { username, password, serveraddress: key } });
  saveCredentials(key, username, password);
  console.log(result.Status || "Login Succeeded");
}

function logout(server: string | undefined): void {
  const key = serverKey(server);
  if (removeCredentials(key)) console.log(`Removing login credentials for ${key}`);
  else console.log(`Not logged in to ${key}`);
}

export function registerImageCommands(cli: CAC): void {
  cli
    .command("pull <name>", "Download an image from a registry")
    .option("--platform <platform>", "Set platform if server is multi-platform capable")
    .option("-q, --quiet", "Suppress verbose output")
    .action((name: string, opts: Opts) => runCommand(() => pull(opts, name)));
  cli
    .command("push [name]", "Upload an image to a registry")
    .option("-a, --all-tags", "Push all tags of an image to the repository")
    .option("-q, --quiet", "Suppress verbose output")
    .action((name: string | undefined, opts: Opts) => runCommand(() => push(opts, name)));
  cli
    .command("images [repository]", "List images")
    .option("-a, --all", "Show all images (default hides intermediate images)")
    .option("-q, --quiet", "Only show image IDs")
    .option("-f, --filter <filter>", "Filter output based on conditions provided")
    .option("--format <format>", "Format output using a Go template")
    .option("--digests", "Show digests")
    .option("--no-trunc", "Don't truncate output")
    .action((repository: string | undefined, opts: Opts) => runCommand(() => images(opts, repository)));
  cli
    .command("rmi <...images>", "Remove one or more images")
    .option("-f, --force", "Force removal of the image")
    .option("--no-prune", "Do not delete untagged parents")
    .action((names: string[], opts: Opts) => runCommand(() => rmi(opts, names)));
  cli.command("tag <source> <target>", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE").action((source: string, target: string, opts: Opts) => runCommand(() => tag(opts, source, target)));
  cli
    .command("history <image>", "Show the history of an image")
    .option("-H, --human", "Print sizes and dates in human readable format", { default: true })
    .option("-q, --quiet", "Only show image IDs")
    .option("--format <format>", "Format output using a Go template")
    .option("--no-trunc", "Don't truncate output")
    .action((name: string, opts: Opts) => runCommand(() => history(opts, name)));
  cli
    .command("save <...images>", "Save one or more images to a tar archive (streamed to STDOUT by default)")
    .option("-o, --output <file>", "Write to a file, instead of STDOUT")
    .action((names: string[], opts: Opts) => runCommand(() => save(opts, names)));
  cli
    .command("load", "Load an image from a tar archive or STDIN")
    .option("-i, --input <file>", "Read from tar archive file, instead of STDIN")
    .option("-q, --quiet", "Suppress the load output")
    .action((opts: Opts) => runCommand(() => load(opts)));
  cli
    .command("import <file> [repository]", "Import the contents from a tarball to create a filesystem image")
    .option("-c, --change <instruction>", "Apply Dockerfile instruction to the created image")
    .option("-m, --message <message>", "Set commit message for imported image")
    .option("--platform <platform>", "Set platform if server is multi-platform capable")
    .action((file: string, reference: string | undefined, opts: Opts) => runCommand(() => importImage(opts, file, reference)));
  cli
    .command("search <term>", "Search registries for images")
    .option("-f, --filter <filter>", "Filter output based on conditions provided")
    .option("--limit <n>", "Max number of search results")
    .option("--format <format>", "Pretty-print search using a Go template")
    .option("--no-trunc", "Don't truncate output")
    .action((term: string, opts: Opts) => runCommand(() => search(opts, term)));
  cli
    .command("login [server]", "Log in to a registry")
    .option("-u, --username <username>", "Username")
    .option("-p, --password <password>", "Password")
    .option("--password-stdin", "Take the password from stdin")
    .action((server: string | undefined, opts: Opts) => runCommand(() => login(opts, server)));
  cli.command("logout [server]", "Log out from a registry").action((server: string | undefined) => runCommand(async () => logout(server)));
  // `image <verb>`: the management-command forms; options are those of the verb, passed through.
  cli
    .command("image <verb> [...args]", "Manage images (inspect, ls, rm, pull, push, tag, history, save, load, import)")
    .option("-f, --format <format>", "Format output using a Go template (inspect)")
    .allowUnknownOptions()
    .action((verb: string, args: string[], opts: Opts) =>
      runCommand(async () => {
        const o: Opts = { ...opts, quiet: opts.quiet ?? opts.q, all: opts.all ?? opts.a, output: opts.output ?? opts.o, input: opts.input ?? opts.i };
        switch (verb) {
          case "inspect":
            return inspect(o, args);
          case "ls":
          case "list":
            return images({ ...o, filter: opts.filter, format: opts.format }, args[0]);
          case "rm":
          case "remove":
            return rmi({ ...o, force: opts.force ?? opts.f }, args);
          case "pull":
            return pull(o, args[0] ?? "");
          case "push":
            return push(o, args[0]);
          case "tag":
            return tag(o, args[0] ?? "", args[1] ?? "");
          case "history":
            return history(o, args[0] ?? "");
          case "save":
            return save(o, args);
          case "load":
            return load(o);
          case "import":
            return importImage({ ...o, change: opts.change ?? opts.c, message: opts.message ?? opts.m }, args[0] ?? "-", args[1]);
          default:
            throw new Error(`unknown image command: ${verb}`);
        }
      }),
    );
}
