/** Wire the builder into the daemon: the build cache, the `build` and `build.prune` jobs, routes, `system df`. */
import { join } from "node:path";
import { buildRoutes } from "../api/routes/build";
import type { ServiceInstaller } from "../daemon/daemon";
import { BuildCache } from "./cache";
import { ContainerBuildRunner } from "./container-runner";
import { RootfsViews } from "./rootfs-views";
import { BuildService } from "./service";

export const installBuild: ServiceInstaller = (ctx) => {
  // Outside tmp/, which start-up empties with a recursive delete that must never meet a mounted view.
  const views = new RootfsViews(ctx.images.graphDriver, join(ctx.dataRoot.root, "builder", "views"));
  views.unmountStale();
  const runner = new ContainerBuildRunner(ctx.containers, ctx.images.graphDriver);
  const builds = new BuildService({ images: ctx.images, engine: ctx.engine, views, cache: new BuildCache(ctx.db), runner, tmp: ctx.dataRoot.tmp });
  ctx.engine.register("build", (job) => builds.build(job.args, job.stdout, job.signal).then((imageId) => ({ imageId })));
  ctx.engine.register("build.prune", (job) => builds.prune(job.args));
  ctx.routers.push(buildRoutes(ctx.engine));
  ctx.system.contribute({ info: () => ({}), diskUsage: async (types) => (types.length === 0 || types.includes("build-cache") ? { BuildCache: builds.diskUsage() } : {}) });
};
