import { volumeRoutes } from "../api/routes/volumes";
import type { ServiceInstaller } from "../daemon/daemon";
import { VolumeService } from "./service";
import { VolumeStore } from "./store";

/** Volume service: routes, `docker system df` figures, and start-up repair of volume directories and mounts. */
export const installVolumes: ServiceInstaller = (ctx) => {
  const volumes = new VolumeService({ store: new VolumeStore(ctx.db), root: ctx.dataRoot.volumes, events: ctx.engine.events });
  volumes.init();
  ctx.volumes = volumes;
  ctx.routers.push(volumeRoutes(volumes));
  ctx.system.contribute({
    info: () => ({}),
    diskUsage: async (types) => (types.length === 0 || types.includes("volume") ? { Volumes: await volumes.diskUsage() } : {}),
  });
};
