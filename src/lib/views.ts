/** The library's plain views of the services' records. */
import type { ContainerRecord } from "../containers/types";
import type { ImageRecord } from "../images/types";
import type { NetworkRow } from "../networks/store";
import type { VolumeView } from "../volumes/service";
import type { ContainerInfo, ImageInfo, NetworkInfo, PublishedPort, VolumeInfo } from "./types";

export function imageInfo(image: ImageRecord): ImageInfo {
  return { id: image.id, repoTags: image.repoTags, repoDigests: image.repoDigests, size: image.size, created: image.created };
}

export function containerInfo(c: ContainerRecord): ContainerInfo {
  const ports: PublishedPort[] = Object.entries(c.networkSettings.Ports ?? {}).flatMap(([key, bindings]) => {
    const [port = "0", protocol = "tcp"] = key.split("/");
    return (bindings ?? []).map((b) => ({ containerPort: Number(port), protocol, hostIp: b.HostIp, hostPort: Number(b.HostPort) }));
  });
  return {
    id: c.id,
    name: c.name,
    image: c.config.Image,
    status: c.state.Status,
    running: c.state.Running,
    exitCode: c.state.ExitCode,
    pid: c.state.Pid,
    ipAddress: c.networkSettings.IPAddress,
    ports,
  };
}

export function networkInfo(row: NetworkRow): NetworkInfo {
  return {
    id: row.id,
    name: row.name,
    driver: row.driver,
    bridge: row.bridge,
    subnet: row.subnet,
    gateway: row.gateway,
    internal: row.internal === 1,
    labels: JSON.parse(row.labels) as Record<string, string>,
  };
}

export function volumeInfo(view: VolumeView): VolumeInfo {
  return { name: view.Name, driver: view.Driver, mountpoint: view.Mountpoint, labels: view.Labels ?? {}, options: view.Options ?? {}, createdAt: view.CreatedAt };
}
