/**
 * The files bind-mounted over a container's /etc/hostname, /etc/hosts and /etc/resolv.conf, kept in its
 * directory (`<data-root>/containers/<id>/`) so that inspect can name them and the network can rewrite them.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface EtcFilePaths {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

export function etcFilePaths(containerDir: string): EtcFilePaths {
  return { hostname: join(containerDir, "hostname"), hosts: join(containerDir, "hosts"), resolvConf: join(containerDir, "resolv.conf") };
}

export interface DnsSettings {
  /** --dns of the container, else of the daemon; empty: the host's (minus loopback) */
  servers: string[];
  search: string[];
  options: string[];
}

const FALLBACK_NAMESERVERS = ["8.8.8.8", "8.8.4.4"];

function isLoopback(address: string): boolean {
  return address.startsWith("127.") || address === "::1";
}

/**
 * The host's resolv.conf adapted like docker does: loopback nameservers (a local stub resolver) cannot be
 * reached from the container's network namespace, so they are dropped, and Google's are used if none remain.
 * With the host's network namespace the file is copied as is.
 */
export function resolvConfFor(hostResolvConf: string, dns: DnsSettings, hostNetwork: boolean): string {
  const isNameserver = (l: string) => /^\s*nameserver\s/.test(l);
  const lines = hostResolvConf.split("\n").filter((l) => {
    if (l.trim() === "") return false;
    if (isNameserver(l)) return dns.servers.length === 0 && (hostNetwork || !isLoopback(l.trim().split(/\s+/)[1] ?? ""));
    if (dns.search.length > 0 && /^\s*(search|domain)\s/.test(l)) return false;
    if (dns.options.length > 0 && /^\s*options\s/.test(l)) return false;
    return true;
  });
  if (dns.servers.length > 0) lines.push(...dns.servers.map((s) => `nameserver ${s}`));
  else if (!lines.some(isNameserver)) lines.push(...FALLBACK_NAMESERVERS.map((s) => `nameserver ${s}`));
  if (dns.search.length > 0) lines.push(`search ${dns.search.join(" ")}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(" ")}`);
  return lines.join("\n") + "\n";
}

const BASE_HOSTS = [
  "127.0.0.1\tlocalhost",
  "::1\tlocalhost ip6-localhost ip6-loopback",
  "fe00::0\tip6-localnet",
  "ff00::0\tip6-mcastprefix",
  "ff02::1\tip6-allnodes",
  "ff02::2\tip6-allrouters",
];

/** `--add-host name:ip` (the ip may be IPv6, with colons) or `name=ip` as hosts-file lines. */
export function extraHostLines(entries: readonly string[]): string[] {
  return entries.flatMap((entry) => {
    const sep = entry.includes("=") ? entry.indexOf("=") : entry.indexOf(":");
    return sep > 0 ? [`${entry.slice(sep + 1)}\t${entry.slice(0, sep)}`] : [];
  });
}

/** /etc/hosts: the standard entries, `--add-host` entries, and the container's own address when it has one. */
export function hostsFileFor(extraHosts: readonly string[], own?: { ip: string; names: string[] }): string {
  const lines = [...BASE_HOSTS, ...extraHostLines(extraHosts)];
  if (own) lines.push(`${own.ip}\t${own.names.join(" ")}`);
  return lines.join("\n") + "\n";
}

export function readHostResolvConf(path = "/etc/resolv.conf"): string {
  return existsSync(path) ? readFileSync(path, "utf8") : "";
}
