/** `bunker diff`, `commit` and `export`: a container's changes, a new image from it, its flattened filesystem. */
import { renameSync } from "node:fs";
import type { Client } from "../../client/client";
import { splitReference } from "../images";
import { bool, list, str, type FlagSpec, type FlagValues } from "./argv";
import { UsageError } from "./create-flags";

export const COMMIT_FLAGS: readonly FlagSpec[] = [
  { name: "author", short: "a", kind: "string" },
  { name: "change", short: "c", kind: "list" },
  { name: "message", short: "m", kind: "string" },
  { name: "pause", short: "p", kind: "bool" },
];
export const EXPORT_FLAGS: readonly FlagSpec[] = [{ name: "output", short: "o", kind: "string" }];

/** docker diff's letters for ChangeKind (Modified, Added, Deleted). */
const KIND_LETTERS = ["C", "A", "D"];

export async function diffCommand(client: Client, args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError(`"diff" requires exactly 1 argument`);
  const changes = (await client.json<{ Path: string; Kind: number }[] | null>("GET", `/containers/${args[0]}/changes`)) ?? [];
  process.stdout.write(changes.map((c) => `${KIND_LETTERS[c.Kind] ?? "?"} ${c.Path}\n`).join(""));
  return 0;
}

/** `commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: prints the new image's ID. */
export async function commitCommand(client: Client, flags: FlagValues, args: string[]): Promise<number> {
  if (args.length < 1 || args.length > 2) throw new UsageError(`"commit" requires at least 1 and at most 2 arguments`);
  const { repo, tag } = args[1] ? splitReference(args[1]) : { repo: undefined, tag: undefined };
  const pause = flags.pause === undefined ? true : bool(flags.pause);
  const result = await client.json<{ Id: string }>("POST", "/commit", {
    query: { container: args[0], repo, tag, author: str(flags.author), comment: str(flags.message), changes: list(flags.change), ...(pause ? {} : { pause: "0" }) },
    body: null,
  });
  console.log(result.Id);
  return 0;
}

export async function exportCommand(client: Client, flags: FlagValues, args: string[]): Promise<number> {
  if (args.length !== 1) throw new UsageError(`"export" requires exactly 1 argument`);
  const output = str(flags.output);
  if (!output && process.stdout.isTTY) throw new UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  const res = await client.request("GET", `/containers/${args[0]}/export`);
  if (!output) {
    await Bun.write(Bun.stdout, res);
    return 0;
  }
  const temp = `${output}.${process.pid}.tmp`;
  await Bun.write(temp, res);
  renameSync(temp, output);
  return 0;
}
