/**
 * One run of a container: assemble its root filesystem, cgroup, user and network, have the keeper start its
 * first process (so that it outlives the daemon), and release all of that again once the process has exited.
 * The rootfs mount lives in the host's mount namespace and stays mounted across daemon restarts.
 */
import { join } from "node:path";
import type { CgroupManager } from "../../drivers/exec/cgroups";
import type { Keeper, KeeperProcess, RunOptions } from "../../drivers/exec/keeper/client";
import type { GraphDriver } from "../../drivers/graph/types";
import { log } from "../util/log";
import { mkdirSync, writeFileSync } from "node:fs";
import { etcFilePaths, hostsFileFor } from "./etc-files";
import { rotationOf } from "./logs/options";
import { launchMounts, type VolumeAccess } from "./mounts";
import type { ContainerNetworks } from "./network";
import { cgroupResources, containerSpec } from "./run-spec";
import type { ContainerRecord, NetworkSettings } from "./types";
import { resolveUser } from "./user";
import { resolveDevices } from "./devices";
import { linkEnv, linkHostEntries, resolveLinks, type LinkTarget } from "./links";

export interface RuntimeDeps {
  graphDriver: GraphDriver;
  rootfsReleases: RootfsReleases;
  cgroups: CgroupManager;
  networks: ContainerNetworks;
  volumes: VolumeAccess;
  cgroupNamespace: "private" | "host";
  containerDir(id: string): string;
  logPath(id: string): string;
  /** By name or id: the targets of legacy links. */
  findContainer(ref: string): ContainerRecord | null;
  /** daemon.json `init`: containers whose HostConfig.Init is unset run under docker-init. */
  initByDefault: boolean;
  /** Host path of docker-init, installed on first use. */
  dockerInit(): Promise<string>;
}

export interface LaunchedRun {
  process: KeeperProcess;
  network: NetworkSettings;
}

export function rootfsOf(containerDir: string): string {
  return join(containerDir, "rootfs");
}

/**
 * Root filesystems taken out of the mount table whose release by the kernel (an overlay's final sync of its
 * upper filesystem) is still under way, by container: the snapshot is mounted again only once it has finished.
 */
export class RootfsReleases {
  private readonly pending = new Map<string, Promise<void>>();

  /** Detach the container's root filesystem now; the kernel releases it in the background. */
  detach(id: string, graphDriver: GraphDriver, rootfs: string): void {
    const released: Promise<void> = graphDriver.detachAt(rootfs).finally(() => {
      if (this.pending.get(id) === released) this.pending.delete(id);
    });
    this.pending.set(id, released);
  }

  /** Settles once nothing is left of an earlier mount of the container's root filesystem. */
  settled(id: string): Promise<void> {
    return this.pending.get(id) ?? Promise.resolve();
  }
}

/**
 * Start the container's process through `keeper`. `attach` "lossless" hands back its output from the first
 * byte (an attached `docker run`); without it nothing of the output passes through the daemon.
 */
export async function launchRun(c: ContainerRecord, deps: RuntimeDeps, keeper: Keeper, attach?: RunOptions["attach"]): Promise<LaunchedRun> {
  const dir = deps.containerDir(c.id);
  const rootfs = rootfsOf(dir);
  mkdirSync(rootfs, { recursive: true });
  await deps.rootfsReleases.settled(c.id);
  deps.graphDriver.mountAt(c.id, rootfs);
  const networks = deps.networks;
  let attached = false;
  try {
    const user = resolveUser(rootfs, c.config.User, c.hostConfig.GroupAdd ?? []);
    // Volumes are acquired with the image's content in place: an empty one gets it (copy-up).
    const mounts = await launchMounts(deps.volumes, c.id, c.mounts, rootfs);
    const links = resolveLinks(c, deps.findContainer);
    const devices = resolveDevices(c.hostConfig.Devices);
    const init = (c.hostConfig.Init ?? deps.initByDefault) ? await deps.dockerInit() : undefined;
    const spec = containerSpec({
      linkEnv: linkEnv(c.name, links),
      record: c,
      rootfs,
      mounts,
      user,
      etcFiles: etcFilePaths(dir),
      network: networks.namespace(c),
      cgroupJoin: deps.cgroups.selfJoinFiles(c.id),
      cgroupNamespace: deps.cgroupNamespace,
      devices: devices.nodes,
      ...(init ? { init } : {}),
    });
    let network: NetworkSettings | undefined;
    const process = await keeper.run(spec, runOptions(c, deps, attach), {
      // The process joins them once released: they are made while the keeper creates it.
      whileCreating: () => deps.cgroups.create(c.id, cgroupResources(c.hostConfig, devices.rules)),
      beforeRelease: async (pid) => {
        attached = true;
        network = await networks.attach(c, pid);
        writeOwnAddress(c, network, dir, links);
      },
    });
    return { process, network: network! };
  } catch (err) {
    await teardownRun(c, deps, attached).catch((e) => log.warn("cleanup after a failed start", { id: c.id, error: String(e) }));
    throw err;
  }
}

/** The keeper writes the json-file log itself, rotated as the container's log options say. */
function runOptions(c: ContainerRecord, deps: RuntimeDeps, attach: RunOptions["attach"]): RunOptions {
  const options: RunOptions = { id: c.id };
  if (attach) options.attach = attach;
  const logConfig = c.hostConfig.LogConfig;
  if (logConfig.Type === "json-file") {
    const rotation = rotationOf(logConfig.Config);
    options.logPath = deps.logPath(c.id);
    options.logMaxSize = rotation.maxSize;
    options.logMaxFiles = rotation.maxFiles;
  }
  return options;
}

/** Undo what launchRun set up; every step runs even when an earlier one fails. */
export async function teardownRun(c: ContainerRecord, deps: RuntimeDeps, networkAttached = true): Promise<void> {
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  if (networkAttached) await step(() => deps.networks.detach(c));
  await step(() => deps.rootfsReleases.detach(c.id, deps.graphDriver, rootfsOf(deps.containerDir(c.id))));
  await step(() => deps.cgroups.destroy(c.id));
  if (errors.length > 0) throw errors[0];
}

/** The container's own address in its /etc/hosts (written in place: the file is bind-mounted by inode). */
function writeOwnAddress(c: ContainerRecord, network: NetworkSettings, dir: string, links: readonly LinkTarget[]): void {
  if (c.hostConfig.NetworkMode === "host") return;
  const ip = network.IPAddress || Object.values(network.Networks).find((n) => n.IPAddress)?.IPAddress;
  if (!ip) return;
  const names = [c.config.Domainname ? `${c.config.Hostname}.${c.config.Domainname} ${c.config.Hostname}` : c.config.Hostname];
  writeFileSync(etcFilePaths(dir).hosts, hostsFileFor([...(c.hostConfig.ExtraHosts ?? []), ...linkHostEntries(links)], { ip, names }));
}
