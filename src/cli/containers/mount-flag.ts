/**
 * `--mount type=bind|volume|tmpfs,source=..,target=..,...` → a `HostConfig.Mounts` entry, with the docker CLI's
 * keys (opts/mount.go): src/source, dst/destination/target, ro/readonly, bind-propagation, bind-nonrecursive,
 * volume-nocopy, volume-label, volume-driver, volume-opt, tmpfs-size, tmpfs-mode. Also Go's durations for
 * `--health-*`.
 */
import type { ApiMount } from "../../volumes/mount-spec";
import { ramInBytes, UsageError } from "./create-flags";

/** "true", "1", "" (the key alone) are true; "false", "0" false. */
function flag(key: string, value: string | undefined): boolean {
  if (value === undefined || value === "" || value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new UsageError(`invalid value for ${key}: ${value}`);
}

export function parseMountFlag(spec: string): ApiMount {
  const mount: ApiMount = { Type: "volume" };
  const volume = (): NonNullable<ApiMount["VolumeOptions"]> => (mount.VolumeOptions ??= {});
  const bind = (): NonNullable<ApiMount["BindOptions"]> => (mount.BindOptions ??= {});
  const tmpfs = (): NonNullable<ApiMount["TmpfsOptions"]> => (mount.TmpfsOptions ??= {});
  for (const field of spec.split(",").filter(Boolean)) {
    const eq = field.indexOf("=");
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = () => {
      if (value === undefined) throw new UsageError(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case "type":
        mount.Type = need();
        break;
      case "source":
      case "src":
        mount.Source = need();
        break;
      case "target":
      case "dst":
      case "destination":
        mount.Target = need();
        break;
      case "readonly":
      case "ro":
        mount.ReadOnly = flag(key, value);
        break;
      case "consistency":
        mount.Consistency = need();
        break;
      case "bind-propagation":
        bind().Propagation = need();
        break;
      case "bind-nonrecursive":
        bind().NonRecursive = flag(key, value);
        break;
      case "volume-nocopy":
        volume().NoCopy = flag(key, value);
        break;
      case "volume-label": {
        const [k = "", v = ""] = splitPair(need());
        volume().Labels = { ...volume().Labels, [k]: v };
        break;
      }
      case "volume-driver":
        volume().DriverConfig = { ...volume().DriverConfig, Name: need() };
        break;
      case "volume-opt": {
        const [k = "", v = ""] = splitPair(need());
        const driver = (volume().DriverConfig ??= {});
        driver.Options = { ...driver.Options, [k]: v };
        break;
      }
      case "tmpfs-size":
        tmpfs().SizeBytes = ramInBytes(need());
        break;
      case "tmpfs-mode": {
        const mode = need();
        if (!/^[0-7]+$/.test(mode)) throw new UsageError(`invalid value for ${key}: ${mode}`);
        tmpfs().Mode = parseInt(mode, 8);
        break;
      }
      default:
        throw new UsageError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!mount.Target) throw new UsageError("target is required");
  return mount;
}

function splitPair(text: string): [string, string] {
  const eq = text.indexOf("=");
  return eq < 0 ? [text, ""] : [text.slice(0, eq), text.slice(eq + 1)];
}

const UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration ("1m30s", "500ms", "2h"), in nanoseconds. */
export function parseDuration(text: string, flagName: string): number {
  if (text === "0") return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) throw new UsageError(`invalid argument "${text}" for "--${flagName}" flag: time: invalid duration "${text}"`);
  return Math.round(parts.reduce((total, p) => total + Number(p[1]) * UNITS_NS[p[2]!]!, 0));
}
