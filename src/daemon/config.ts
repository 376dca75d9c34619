import { existsSync, readFileSync } from "node:fs";
import { InvalidParameterError } from "../errors";

/** Daemon settings. Keys of daemon.json use dockerd's names where the two overlap. */
export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  storageDriver: string;
  logLevel: string;
  pidfile: string;
  tls: boolean;
  tlsVerify: boolean;
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
  insecureRegistries: string[];
  registryMirrors: string[];
  liveRestore: boolean;
  /** Tear down everything this daemon created (networks, rules, containers) when it stops. */
  ephemeral: boolean;
  /** Name of the default bridge (`none` disables it, like dockerd's --bridge=none). */
  bridge: string;
  bip: string;
  fixedCidr: string;
  dns: string[];
  mtu: number;
  logOpts: Record<string, string>;
  /** Run every container under docker-init unless its HostConfig.Init says otherwise (dockerd's `init`). */
  init: boolean;
}

export const DEFAULT_CONFIG_FILE = "/etc/bunker/daemon.json";

export const DEFAULTS: DaemonConfig = {
  hosts: ["unix:///run/bunker.sock"],
  dataRoot: "/var/lib/bunker",
  storageDriver: "overlay",
  logLevel: "info",
  pidfile: "/run/bunker.pid",
  tls: false,
  tlsVerify: false,
  tlsCaCert: "",
  tlsCert: "",
  tlsKey: "",
  insecureRegistries: [],
  registryMirrors: [],
  liveRestore: true,
  ephemeral: false,
  bridge: "bunker0",
  bip: "",
  fixedCidr: "",
  dns: [],
  mtu: 1500,
  logOpts: { "max-size": "10m", "max-file": "3" },
  init: false,
};

/** daemon.json key → config field and expected JSON type. */
const FILE_KEYS: Record<string, [keyof DaemonConfig, "string" | "boolean" | "number" | "string[]" | "record"]> = {
  hosts: ["hosts", "string[]"],
  "data-root": ["dataRoot", "string"],
  "storage-driver": ["storageDriver", "string"],
  "log-level": ["logLevel", "string"],
  pidfile: ["pidfile", "string"],
  tls: ["tls", "boolean"],
  tlsverify: ["tlsVerify", "boolean"],
  tlscacert: ["tlsCaCert", "string"],
  tlscert: ["tlsCert", "string"],
  tlskey: ["tlsKey", "string"],
  "insecure-registries": ["insecureRegistries", "string[]"],
  "registry-mirrors": ["registryMirrors", "string[]"],
  "live-restore": ["liveRestore", "boolean"],
  bridge: ["bridge", "string"],
  bip: ["bip", "string"],
  "fixed-cidr": ["fixedCidr", "string"],
  dns: ["dns", "string[]"],
  mtu: ["mtu", "number"],
  "log-opts": ["logOpts", "record"],
  init: ["init", "boolean"],
};

function typeOk(value: unknown, type: string): boolean {
  switch (type) {
    case "string[]":
      return Array.isArray(value) && value.every((v) => typeof v === "string");
    case "record":
      return !!value && typeof value === "object" && !Array.isArray(value) && Object.values(value).every((v) => typeof v === "string");
    default:
      return typeof value === type;
  }
}

/** Read daemon.json; unknown keys and wrong types are errors, like dockerd. A missing default file is fine. */
export function readConfigFile(path: string, required: boolean): Partial<DaemonConfig> {
  if (!existsSync(path)) {
    if (required) throw new InvalidParameterError(`unable to read config file ${path}: no such file`);
    return {};
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new InvalidParameterError(`unable to parse config file ${path}: ${(err as Error).message}`);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new InvalidParameterError(`config file ${path} must hold a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const spec = FILE_KEYS[key];
    if (!spec) throw new InvalidParameterError(`the following directives don't match any configuration option: ${key}`);
    if (!typeOk(value, spec[1])) throw new InvalidParameterError(`invalid value for ${key} in ${path}: expected ${spec[1]}`);
    out[spec[0]] = value;
  }
  return out as Partial<DaemonConfig>;
}

/** Defaults < config file < environment < flags. */
export function resolveConfig(file: Partial<DaemonConfig>, flags: Partial<DaemonConfig>): DaemonConfig {
  const env: Partial<DaemonConfig> = {};
  const driverEnv = process.env.BUNKER_DRIVER ?? process.env.DOCKER_DRIVER;
  if (driverEnv) env.storageDriver = driverEnv;
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)));
  return { ...DEFAULTS, ...file, ...env, ...defined };
}
