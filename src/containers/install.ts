/** Wire the container service into the daemon: keeper, cgroups, jobs, routes, `docker info` figures, start-up and shutdown. */
import os from "node:os";
import { cgroupHostInfo, createCgroupManager, detectCgroupLayout, type CgroupHostInfo } from "../../drivers/exec/cgroups";
import { containerRoutes } from "../api/routes/containers";
import { execRoutes } from "../api/routes/exec";
import type { ServiceInstaller } from "../daemon/daemon";
import { log } from "../util/log";
import { GIT_COMMIT } from "../version";
import { ExecService } from "./exec";
import { ContainerFiles } from "./files";
import { HealthMonitor } from "./health";
import { ContainerKeepers } from "./keepers";
import { registerContainerJobs } from "./jobs";
import { ContainerService } from "./service";
import { summaryView } from "./views";

/** docker info's warnings for limits this host cannot enforce. */
function cgroupWarnings(info: CgroupHostInfo): string[] {
  const w: string[] = [];
  if (!info.memoryLimit) w.push("WARNING: No memory limit support");
  if (!info.swapLimit) w.push("WARNING: No swap limit support");
  if (!info.cpuCfsQuota) w.push("WARNING: No cpu cfs quota support");
  if (!info.cpuCfsPeriod) w.push("WARNING: No cpu cfs period support");
  if (!info.cpuShares) w.push("WARNING: No cpu shares support");
  if (!info.cpuSet) w.push("WARNING: No cpuset support");
  if (!info.pidsLimit) w.push("WARNING: No pids limit support");
  if (!info.blkioWeight) w.push("WARNING: No blkio weight support");
  return w;
}

/**
 * Connect to this data root's keeper, or fork one, before any other service runs: the keeper is slimmed at
 * birth, but forking before anything holds a secret keeps even the fork's first moments clean.
 */
export const installKeeper: ServiceInstaller = async (ctx) => {
  ctx.keepers = await ContainerKeepers.open(ctx.dataRoot.keeper, GIT_COMMIT);
};

export const installContainers: ServiceInstaller = (ctx) => {
  const layout = detectCgroupLayout();
  const cgroups = createCgroupManager({ layout });
  const cgroupInfo = cgroupHostInfo(layout);
  const containers = new ContainerService({
    db: ctx.db,
    dataRoot: ctx.dataRoot,
    config: ctx.config,
    images: ctx.images,
    events: ctx.engine.events,
    cgroups,
    hostLimits: { ncpu: os.cpus().length, cgroup: cgroupInfo },
    networks: ctx.networks,
    keepers: ctx.keepers,
    volumes: ctx.volumes,
  });
  ctx.containers = containers;
  const execs = new ExecService(containers, cgroups);
  const files = new ContainerFiles({ containers, images: ctx.images, cgroups, volumePath: (name) => ctx.volumes.dataPath(name) });
  registerContainerJobs(ctx.engine, containers, execs, files);
  const health = new HealthMonitor({
    probe: (id, cmd, timeoutMs, maxOutput) => execs.probe(id, cmd, timeoutMs, maxOutput),
    paused: (id) => cgroups.frozen(id),
    save: (id, state) => containers.saveHealth(id, state),
    publish: (id, action) => {
      const c = containers.store.get(id);
      if (c) containers.publish(c, action);
    },
  });
  containers.onRunStart((c, startedAtMs, adopted) => health.start(c, startedAtMs, adopted));
  containers.onRunEnd((id) => health.stop(id));
  ctx.onShutdown(() => health.stopAll());
  ctx.routers.push(containerRoutes(ctx.engine, containers, execs, files, ctx.images, cgroups), execRoutes(ctx.engine, execs));

  ctx.isContainerSnapshot = (key) => containers.store.get(key) !== null;
  ctx.images.setContainerCount((imageId) => containers.store.idsUsingImage(imageId).length);
  ctx.images.setUsage((imageId) => {
    const id = containers.store.idsUsingImage(imageId)[0];
    return id === undefined ? null : { running: containers.activeRun(id) !== undefined, containerId: id };
  });
  ctx.networks.setContainerLookup((ref) => {
    const c = containers.find(ref);
    return c ? { id: c.id, name: c.name, hostname: c.config.Hostname, pid: containers.runningPid(c.id), networks: Object.keys(c.networkSettings.Networks) } : null;
  });
  ctx.networks.setEndpointListener((id, network, settings) => containers.updateEndpoint(id, network, settings));
  ctx.networks.setEndpointConfigListener((id, network, request, shown) => containers.configureEndpoint(id, network, request, shown));

  ctx.system.contribute({
    info: () => {
      const all = containers.store.all();
      const running = all.filter((c) => c.state.Running && !c.state.Paused).length;
      const paused = all.filter((c) => c.state.Paused).length;
      return {
        Containers: all.length,
        ContainersRunning: running,
        ContainersPaused: paused,
        ContainersStopped: all.length - running - paused,
        CgroupDriver: cgroupInfo.driver,
        CgroupVersion: cgroupInfo.version,
        MemoryLimit: cgroupInfo.memoryLimit,
        SwapLimit: cgroupInfo.swapLimit,
        CpuCfsPeriod: cgroupInfo.cpuCfsPeriod,
        CpuCfsQuota: cgroupInfo.cpuCfsQuota,
        CPUShares: cgroupInfo.cpuShares,
        CPUSet: cgroupInfo.cpuSet,
        PidsLimit: cgroupInfo.pidsLimit,
        OomKillDisable: cgroupInfo.oomKillDisable,
        SecurityOptions: ["name=seccomp,profile=builtin", ...(cgroupInfo.version === "2" ? ["name=cgroupns"] : [])],
        Warnings: cgroupWarnings(cgroupInfo),
      };
    },
    diskUsage: async (types) => {
      if (types.length > 0 && !types.includes("container")) return {};
      const all = containers.store.all();
      return {
        Containers: await Promise.all(all.map(async (c) => summaryView(c, { mounts: containers.mountPoints(c), sizes: await containers.sizes(c) }))),
        // Not in docker's answer: the json-file logs the containers hold (rotated files included).
        LogsSize: all.reduce((n, c) => n + containers.logsSize(c), 0),
      };
    },
  });

  ctx.onReady(async () => {
    await containers.recover();
    // Not awaited: the API should not wait for restart-policy containers to come up.
    void containers.startPolicyContainers().catch((err) => log.warn("restarting containers at daemon start failed", { error: String(err) }));
  });
  ctx.onShutdown(() => containers.shutdown());
};
