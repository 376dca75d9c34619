/** `run`/`create` flags → the body of `POST /containers/create`, as the docker CLI builds it. */
import { readFileSync } from "node:fs";
import { bool, list, str, type FlagSpec, type FlagValues } from "./argv";
import { parseDuration, parseMountFlag } from "./mount-flag";

export const CREATE_FLAGS: readonly FlagSpec[] = [
  { name: "interactive", short: "i", kind: "bool" },
  { name: "tty", short: "t", kind: "bool" },
  { name: "rm", kind: "bool" },
  { name: "env", short: "e", kind: "list" },
  { name: "env-file", kind: "list" },
  { name: "workdir", short: "w", kind: "string" },
  { name: "user", short: "u", kind: "string" },
  { name: "name", kind: "string" },
  { name: "hostname", kind: "string" },
  { name: "domainname", kind: "string" },
  { name: "entrypoint", kind: "string" },
  { name: "memory", short: "m", kind: "string" },
  { name: "memory-swap", kind: "string" },
  { name: "memory-reservation", kind: "string" },
  { name: "cpus", kind: "string" },
  { name: "cpu-shares", short: "c", kind: "string" },
  { name: "cpuset-cpus", kind: "string" },
  { name: "pids-limit", kind: "string" },
  { name: "blkio-weight", kind: "string" },
  { name: "read-only", kind: "bool" },
  { name: "cap-add", kind: "list" },
  { name: "cap-drop", kind: "list" },
  { name: "privileged", kind: "bool" },
  { name: "security-opt", kind: "list" },
  { name: "restart", kind: "string" },
  { name: "label", short: "l", kind: "list" },
  { name: "network", kind: "string", aliases: ["net"] },
  { name: "network-alias", kind: "list", aliases: ["net-alias"] },
  { name: "ip", kind: "string" },
  { name: "publish", short: "p", kind: "list" },
  { name: "publish-all", short: "P", kind: "bool" },
  { name: "expose", kind: "list" },
  { name: "dns", kind: "list" },
  { name: "dns-search", kind: "list" },
  { name: "dns-option", kind: "list" },
  { name: "add-host", kind: "list" },
  { name: "link", kind: "list" },
  { name: "init", kind: "bool" },
  { name: "stop-signal", kind: "string" },
  { name: "stop-timeout", kind: "string" },
  { name: "ulimit", kind: "list" },
  { name: "sysctl", kind: "list" },
  { name: "tmpfs", kind: "list" },
  { name: "volume", short: "v", kind: "list" },
  { name: "mount", kind: "list" },
  { name: "volumes-from", kind: "list" },
  { name: "health-cmd", kind: "string" },
  { name: "health-interval", kind: "string" },
  { name: "health-timeout", kind: "string" },
  { name: "health-retries", kind: "string" },
  { name: "health-start-period", kind: "string" },
  { name: "health-start-interval", kind: "string" },
  { name: "no-healthcheck", kind: "bool" },
  { name: "group-add", kind: "list" },
  { name: "shm-size", kind: "string" },
  { name: "log-driver", kind: "string" },
  { name: "log-opt", kind: "list" },
  { name: "attach", short: "a", kind: "list" },
  { name: "detach-keys", kind: "string" },
  { name: "platform", kind: "string" },
  { name: "pull", kind: "string" },
];

/** Only for `run`. */
export const RUN_ONLY_FLAGS: readonly FlagSpec[] = [
  { name: "detach", short: "d", kind: "bool" },
  { name: "quiet", short: "q", kind: "bool" },
];

export class UsageError extends Error {}

/** docker's RAMInBytes: "64m", "1g", "512k", "100" (binary units). */
export function ramInBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid size: '${text}'`);
  const power = ["", "k", "m", "g", "t", "p"].indexOf(m[2]!.toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** power);
}

function keyValues(entries: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const eq = e.indexOf("=");
    if (eq <= 0) {
      if (what === "label") out[e] = "";
      else throw new UsageError(`invalid ${what} format '${e}', expected key=value`);
    } else out[e.slice(0, eq)] = e.slice(eq + 1);
  }
  return out;
}

/** `-e NAME` takes NAME from our environment; it is dropped when unset, as docker does. */
function environment(flags: FlagValues): string[] {
  const fromFiles = list(flags["env-file"]).flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#")),
  );
  return [...fromFiles, ...list(flags.env)].flatMap((e) => {
    if (e.includes("=")) return [e];
    const value = process.env[e];
    return value === undefined ? [] : [`${e}=${value}`];
  });
}

function restartPolicy(spec: string | undefined): { Name: string; MaximumRetryCount: number } {
  if (!spec) return { Name: "no", MaximumRetryCount: 0 };
  const [name = "no", count] = spec.split(":");
  if (count !== undefined && !/^\d+$/.test(count)) throw new UsageError(`invalid restart policy format: maximum retry count must be an integer`);
  return { Name: name, MaximumRetryCount: count === undefined ? 0 : Number(count) };
}

/** `-p [ip:][hostPort:]containerPort[/proto]` → PortBindings and ExposedPorts. */
function publish(specs: string[], exposed: Record<string, Record<string, never>>): Record<string, { HostIp: string; HostPort: string }[]> {
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const spec of specs) {
    const [addr, proto = "tcp"] = spec.split("/") as [string, string?];
    const parts = addr.split(":");
    const containerPort = parts.pop()!;
    const hostPort = parts.pop() ?? "";
    const hostIp = parts.join(":");
    const key = `${containerPort}/${proto}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: hostIp, HostPort: hostPort });
  }
  return bindings;
}

function ulimits(specs: string[]): { Name: string; Soft: number; Hard: number }[] {
  return specs.map((spec) => {
    const [name, values = ""] = spec.split("=", 2) as [string, string?];
    const [soft = "", hard = soft] = values.split(":");
    if (!name || !/^-?\d+$/.test(soft) || !/^-?\d+$/.test(hard)) throw new UsageError(`invalid ulimit argument: ${spec}`);
    return { Name: name, Soft: Number(soft), Hard: Number(hard) };
  });
}

/** `--health-*` and `--no-healthcheck` → `Config.Healthcheck` (undefined: the image's applies). */
function healthcheck(flags: FlagValues): Record<string, unknown> | undefined {
  const cmd = str(flags["health-cmd"]);
  const durations = { Interval: "health-interval", Timeout: "health-timeout", StartPeriod: "health-start-period", StartInterval: "health-start-interval" } as const;
  const retries = str(flags["health-retries"]);
  const given = cmd !== undefined || retries !== undefined || Object.values(durations).some((name) => str(flags[name]) !== undefined);
  if (bool(flags["no-healthcheck"])) {
    if (given) throw new UsageError("--no-healthcheck conflicts with --health-* options");
    return { Test: ["NONE"] };
  }
  if (!given) return undefined;
  const out: Record<string, unknown> = { Test: cmd === undefined ? [] : ["CMD-SHELL", cmd] };
  for (const [field, name] of Object.entries(durations)) {
    const text = str(flags[name]);
    if (text === undefined) continue;
    const ns = parseDuration(text, name);
    if (ns < 0) throw new UsageError(`--${name} cannot be negative`);
    out[field] = ns;
  }
  if (retries !== undefined) {
    if (!/^\d+$/.test(retries)) throw new UsageError(`invalid argument "${retries}" for "--health-retries" flag`);
    out.Retries = Number(retries);
  }
  return out;
}

/** `-v`: a host path or volume name before the colon goes to Binds; a lone container path is an anonymous volume. */
function volumeFlags(specs: string[]): { binds: string[]; volumes: Record<string, Record<string, never>> } {
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const spec of specs) {
    if (spec.includes(":")) binds.push(spec);
    else volumes[spec] = {};
  }
  return { binds, volumes };
}

export interface CreateBody {
  body: Record<string, unknown>;
  name: string | undefined;
  attachStdin: boolean;
  tty: boolean;
}

/** `detached`: `run -d` (nothing attached) or `create`. */
export function createBody(flags: FlagValues, image: string, cmd: string[], detached: boolean, consoleSize: [number, number]): CreateBody {
  const interactive = bool(flags.interactive);
  const tty = bool(flags.tty);
  const attachList = list(flags.attach).map((s) => s.toLowerCase());
  const attachStdin = !detached && (interactive || attachList.includes("stdin"));
  const attachOut = !detached && (attachList.length === 0 || attachList.includes("stdout"));
  const attachErr = !detached && (attachList.length === 0 || attachList.includes("stderr"));
  const exposed: Record<string, Record<string, never>> = {};
  for (const e of list(flags.expose)) exposed[e.includes("/") ? e : `${e}/tcp`] = {};
  const portBindings = publish(list(flags.publish), exposed);
  const entrypoint = str(flags.entrypoint);
  const network = str(flags.network) ?? "default";
  const memory = str(flags.memory);
  const swap = str(flags["memory-swap"]);
  const cpus = str(flags.cpus);
  const pids = str(flags["pids-limit"]);
  const stopTimeout = str(flags["stop-timeout"]);
  const shm = str(flags["shm-size"]);
  const aliases = list(flags["network-alias"]);
  const ip = str(flags.ip);
  const volumes = volumeFlags(list(flags.volume));
  const health = healthcheck(flags);
  const tmpfs: Record<string, string> = {};
  for (const t of list(flags.tmpfs)) {
    const colon = t.indexOf(":");
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? "" : t.slice(colon + 1);
  }
  const body: Record<string, unknown> = {
    Hostname: str(flags.hostname) ?? "",
    Domainname: str(flags.domainname) ?? "",
    User: str(flags.user) ?? "",
    AttachStdin: attachStdin,
    AttachStdout: attachOut,
    AttachStderr: attachErr,
    ExposedPorts: exposed,
    Tty: tty,
    OpenStdin: interactive,
    StdinOnce: interactive && !detached,
    Env: environment(flags),
    Cmd: cmd.length > 0 ? cmd : null,
    Image: image,
    WorkingDir: str(flags.workdir) ?? "",
    Entrypoint: entrypoint === undefined ? null : [entrypoint],
    Labels: keyValues(list(flags.label), "label"),
    Volumes: volumes.volumes,
    ...(health ? { Healthcheck: health } : {}),
    ...(str(flags["stop-signal"]) ? { StopSignal: str(flags["stop-signal"]) } : {}),
    ...(stopTimeout !== undefined ? { StopTimeout: Number(stopTimeout) } : {}),
    HostConfig: {
      Binds: volumes.binds.length > 0 ? volumes.binds : null,
      Mounts: list(flags.mount).map(parseMountFlag),
      VolumesFrom: list(flags["volumes-from"]).length > 0 ? list(flags["volumes-from"]) : null,
      LogConfig: { Type: str(flags["log-driver"]) ?? "", Config: keyValues(list(flags["log-opt"]), "log-opt") },
      NetworkMode: network,
      PortBindings: portBindings,
      PublishAllPorts: bool(flags["publish-all"]),
      RestartPolicy: restartPolicy(str(flags.restart)),
      AutoRemove: bool(flags.rm),
      ConsoleSize: tty ? consoleSize : [0, 0],
      CapAdd: list(flags["cap-add"]).length > 0 ? list(flags["cap-add"]) : null,
      CapDrop: list(flags["cap-drop"]).length > 0 ? list(flags["cap-drop"]) : null,
      Dns: list(flags.dns),
      DnsOptions: list(flags["dns-option"]),
      DnsSearch: list(flags["dns-search"]),
      ExtraHosts: list(flags["add-host"]).length > 0 ? list(flags["add-host"]) : null,
      Links: list(flags.link).length > 0 ? list(flags.link) : null,
      GroupAdd: list(flags["group-add"]).length > 0 ? list(flags["group-add"]) : null,
      Privileged: bool(flags.privileged),
      ReadonlyRootfs: bool(flags["read-only"]),
      SecurityOpt: list(flags["security-opt"]).length > 0 ? list(flags["security-opt"]) : null,
      ShmSize: shm ? ramInBytes(shm) : 0,
      Tmpfs: tmpfs,
      Sysctls: keyValues(list(flags.sysctl), "sysctl"),
      Init: bool(flags.init) ? true : null,
      Memory: memory ? ramInBytes(memory) : 0,
      MemorySwap: swap === undefined ? 0 : swap === "-1" ? -1 : ramInBytes(swap),
      MemoryReservation: str(flags["memory-reservation"]) ? ramInBytes(str(flags["memory-reservation"])!) : 0,
      NanoCpus: cpus ? Math.round(Number(cpus) * 1e9) : 0,
      CpuShares: Number(str(flags["cpu-shares"]) ?? 0),
      CpusetCpus: str(flags["cpuset-cpus"]) ?? "",
      PidsLimit: pids === undefined ? 0 : Number(pids),
      BlkioWeight: Number(str(flags["blkio-weight"]) ?? 0),
      Ulimits: ulimits(list(flags.ulimit)),
    },
    NetworkingConfig: {
      EndpointsConfig: { [network]: { ...(aliases.length > 0 ? { Aliases: aliases } : {}), ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}) } },
    },
  };
  if (cpus !== undefined && !Number.isFinite(Number(cpus))) throw new UsageError(`invalid argument "${cpus}" for "--cpus" flag`);
  return { body, name: str(flags.name), attachStdin, tty };
}
