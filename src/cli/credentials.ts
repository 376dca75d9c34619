import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** Docker Hub's key in credential files, as the docker CLI writes it. */
export const HUB_SERVER = "https://index.docker.io/v1/";

interface CredentialFile {
  auths: Record<string, { auth?: string }>;
  [key: string]: unknown;
}

/** `$BUNKER_CONFIG/config.json`, default `~/.bunker/config.json`. */
export function credentialPath(): string {
  return join(process.env.BUNKER_CONFIG || join(homedir(), ".bunker"), "config.json");
}

function readFile(): CredentialFile {
  const path = credentialPath();
  if (!existsSync(path)) return { auths: {} };
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<CredentialFile>;
  return { ...parsed, auths: parsed.auths ?? {} };
}

/** Written to a temp name with mode 0600 and renamed, so the file is never readable by others, even half-written. */
function writeFile(file: CredentialFile): void {
  const path = credentialPath();
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, "\t")}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** The credential key of a registry: `127.0.0.1:5000`, or HUB_SERVER for Docker Hub. */
export function serverKey(server: string | undefined): string {
  const host = (server ?? "").trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return !host || host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? HUB_SERVER : host;
}

/** The registry an image reference lives on: its first component when that looks like a host, else Docker Hub. */
export function serverOfReference(reference: string): string {
  const slash = reference.indexOf("/");
  const first = reference.slice(0, slash);
  const isHost = slash > 0 && (first.includes(".") || first.includes(":") || first === "localhost");
  return serverKey(isHost ? first : undefined);
}

export function saveCredentials(server: string, username: string, password: string): void {
  const file = readFile();
  file.auths[serverKey(server)] = { auth: Buffer.from(`${username}:${password}`).toString("base64") };
  writeFile(file);
}

/** Returns whether there was anything to remove. */
export function removeCredentials(server: string): boolean {
  const file = readFile();
  const key = serverKey(server);
  if (!(key in file.auths)) return false;
  delete file.auths[key];
  writeFile(file);
  return true;
}

/** The X-Registry-Auth header for a registry: base64url JSON of the stored credentials, `{}` when there are none. */
export function registryAuthHeader(server: string): string {
  const key = serverKey(server);
  const stored = readFile().auths[key]?.auth;
  let config: Record<string, string> = {};
  if (stored) {
    const decoded = Buffer.from(stored, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) config = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: key };
  }
  return Buffer.from(JSON.stringify(config)).toString("base64url");
}
