/**
 * The body of `POST /containers/create` merged with the image's config the way docker does: the request wins,
 * the image fills in what it left out (Cmd only when no Entrypoint was given), image Env entries are appended
 * when the request does not set the same variable.
 */
import type { HealthConfig, ContainerConfig as ImageContainerConfig } from "../registry/types";
import { InvalidParameterError } from "../errors";
import type { ContainerConfig, HostConfig, NetworkingConfig } from "./types";

/** What clients send: Config at the top level, plus HostConfig and NetworkingConfig. */
export type CreateRequest = Partial<ContainerConfig> & {
  HostConfig?: Partial<HostConfig>;
  NetworkingConfig?: NetworkingConfig;
};

function envKey(entry: string): string {
  const eq = entry.indexOf("=");
  return eq < 0 ? entry : entry.slice(0, eq);
}

function checkEnv(env: string[]): void {
  for (const entry of env) if (envKey(entry) === "") throw new InvalidParameterError(`invalid environment variable: ${entry}`);
}

/** `--entrypoint ""` arrives as [""]: an explicit "no entrypoint" that also stops the image's from applying. */
function requestedEntrypoint(value: string[] | null | undefined): string[] | null {
  if (!value || value.length === 0) return null;
  if (value.length === 1 && value[0] === "") return [];
  return value;
}

export function mergeConfig(req: CreateRequest, image: ImageContainerConfig, id: string): ContainerConfig {
  const env = [...(req.Env ?? [])];
  checkEnv(env);
  const userKeys = new Set(env.map(envKey));
  for (const entry of image.Env ?? []) if (!userKeys.has(envKey(entry))) env.push(entry);

  let entrypoint = requestedEntrypoint(req.Entrypoint);
  let cmd = req.Cmd && req.Cmd.length > 0 ? req.Cmd : null;
  if (entrypoint === null) {
    entrypoint = image.Entrypoint && image.Entrypoint.length > 0 ? image.Entrypoint : null;
    if (cmd === null) cmd = image.Cmd && image.Cmd.length > 0 ? image.Cmd : null;
  }
  if ((entrypoint ?? []).length === 0 && (cmd ?? []).length === 0) throw new InvalidParameterError("No command specified");
  if (req.WorkingDir && !req.WorkingDir.startsWith("/")) throw new InvalidParameterError(`the working directory '${req.WorkingDir}' is invalid, it needs to be an absolute path`);

  const exposed = { ...(image.ExposedPorts ?? {}), ...(req.ExposedPorts ?? {}) };
  const config: ContainerConfig = {
    Hostname: req.Hostname || id.slice(0, 12),
    Domainname: req.Domainname ?? "",
    User: req.User || image.User || "",
    AttachStdin: req.AttachStdin ?? false,
    AttachStdout: req.AttachStdout ?? false,
    AttachStderr: req.AttachStderr ?? false,
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    Tty: req.Tty ?? false,
    OpenStdin: req.OpenStdin ?? false,
    StdinOnce: req.StdinOnce ?? false,
    Env: env,
    Cmd: cmd,
    Image: req.Image ?? "",
    Volumes: mergeVolumes(req.Volumes, image.Volumes),
    WorkingDir: req.WorkingDir || image.WorkingDir || "",
    Entrypoint: entrypoint,
    OnBuild: req.OnBuild ?? null,
    Labels: { ...(image.Labels ?? {}), ...(req.Labels ?? {}) },
  };
  const stopSignal = req.StopSignal || image.StopSignal;
  if (stopSignal) config.StopSignal = stopSignal;
  if (req.StopTimeout !== undefined && req.StopTimeout !== null) config.StopTimeout = req.StopTimeout;
  const healthcheck = mergeHealthcheck(req.Healthcheck, image.Healthcheck);
  if (healthcheck) config.Healthcheck = healthcheck;
  return config;
}

/** The request's volumes and the image's VOLUME entries together. */
function mergeVolumes(requested: ContainerConfig["Volumes"] | undefined, image: ImageContainerConfig["Volumes"]): ContainerConfig["Volumes"] {
  const merged = { ...(image ?? {}), ...(requested ?? {}) };
  return Object.keys(merged).length > 0 ? merged : null;
}

/** moby's merge: the request's healthcheck, with what it leaves unset (zero) taken from the image's. */
function mergeHealthcheck(requested: HealthConfig | undefined, image: HealthConfig | undefined): HealthConfig | undefined {
  if (!requested) return image;
  if (!image) return requested;
  const out: HealthConfig = { ...requested };
  if (!out.Test || out.Test.length === 0) out.Test = image.Test;
  if (!out.Interval) out.Interval = image.Interval;
  if (!out.Timeout) out.Timeout = image.Timeout;
  if (!out.StartPeriod) out.StartPeriod = image.StartPeriod;
  if (!out.StartInterval) out.StartInterval = image.StartInterval;
  if (!out.Retries) out.Retries = image.Retries;
  return out;
}
