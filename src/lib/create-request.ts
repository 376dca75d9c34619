/** The library's container options as docker's create body: the friendly fields over `options.request`. */
import type { MountRequest } from "../containers/types";
import type { ContainerCreateRequest, ContainerOptions } from "./types";

export function createRequest(options: ContainerOptions): ContainerCreateRequest {
  const base = options.request ?? {};
  const host = { ...base.HostConfig };
  const body: ContainerCreateRequest = { ...base, Image: options.image };
  if (options.cmd) body.Cmd = options.cmd;
  if (options.entrypoint) body.Entrypoint = options.entrypoint;
  if (options.env) body.Env = [...(base.Env ?? []), ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`)];
  if (options.workdir !== undefined) body.WorkingDir = options.workdir;
  if (options.user !== undefined) body.User = options.user;
  if (options.labels) body.Labels = { ...base.Labels, ...options.labels };
  if (options.tty !== undefined) body.Tty = options.tty;
  if (options.openStdin !== undefined) body.OpenStdin = options.openStdin;
  if (options.network !== undefined) host.NetworkMode = options.network;
  if (options.autoRemove !== undefined) host.AutoRemove = options.autoRemove;
  if (options.mounts) {
    const mounts: MountRequest[] = options.mounts.map((m) => ({
      Type: m.type,
      Target: m.target,
      ...(m.source !== undefined ? { Source: m.source } : {}),
      ...(m.readOnly ? { ReadOnly: true } : {}),
    }));
    host.Mounts = [...(host.Mounts ?? []), ...mounts];
  }
  if (options.ports) {
    const exposed = { ...base.ExposedPorts };
    const bindings = { ...host.PortBindings };
    for (const p of options.ports) {
      const key = `${p.containerPort}/${p.protocol ?? "tcp"}`;
      exposed[key] = {};
      bindings[key] = [...(bindings[key] ?? []), { HostIp: p.hostIp ?? "", HostPort: p.hostPort ? String(p.hostPort) : "" }];
    }
    body.ExposedPorts = exposed;
    host.PortBindings = bindings;
  }
  body.HostConfig = host;
  return body;
}
