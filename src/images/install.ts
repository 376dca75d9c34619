import { createGraphDriver } from "../../drivers/graph";
import { imageRoutes } from "../api/routes/images";
import type { ServiceInstaller } from "../daemon/daemon";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { log } from "../util/log";
import { ProgressWriter } from "./progress";
import { ImageService } from "./service";

/** Wire the image service into the daemon: GraphDriver, ImageGraph, jobs, routes, `docker info` figures. */
export const installImages: ServiceInstaller = async (ctx) => {
  const home = ctx.dataRoot.graphHome(ctx.config.storageDriver === "overlay2" ? "overlay" : ctx.config.storageDriver);
  const driver = createGraphDriver(ctx.config.storageDriver, home);
  // init() destroys directories in the driver's home that are no snapshot (no metadata, a half-made one): say which.
  const before = entriesOf(home);
  await driver.init();
  const after = new Set(entriesOf(home));
  for (const name of before) if (!after.has(name)) log.info("removed a graph driver directory that holds no snapshot", { dir: join(home, name) });
  const images = new ImageService(ctx, driver);
  ctx.images = images;
  const { engine } = ctx;
  engine.register("pull", async (job) => {
    const result = await images.pull(job.args, new ProgressWriter(job.stdout), job.signal);
    engine.events.publish("image", "pull", job.args.reference, { name: job.args.reference });
    return result;
  });
  engine.register("push", async (job) => {
    const pushed = await images.push(job.args, new ProgressWriter(job.stdout), job.signal);
    for (const p of pushed) engine.events.publish("image", "push", p.digest, { name: `${job.args.name.replace(/:[^:/]+$/, "")}:${p.tag}` });
    return pushed;
  });
  engine.register("image.load", async (job) => {
    const loaded = await images.load(job.args.body, job.args, new ProgressWriter(job.stdout), job.signal);
    for (const l of loaded) engine.events.publish("image", "load", l.id, { name: l.names[0] ?? l.id });
    return loaded;
  });
  engine.register("image.import", async (job) => {
    const image = await images.importImage(job.args, job.args.body, new ProgressWriter(job.stdout), job.signal);
    engine.events.publish("image", "import", image.id, { name: image.repoTags[0] ?? image.id });
    return image;
  });
  engine.register("image.remove", (job) => images.remove(job.args.name, job.args.force, job.args.noprune));
  engine.register("image.tag", async (job) => images.tag(job.args.source, job.args.repo, job.args.tag));
  engine.register("image.prune", (job) => images.prune(job.args.danglingOnly));
  ctx.routers.push(imageRoutes(engine, images));
  ctx.system.contribute({
    info: () => ({ Images: images.graph.count(), Driver: driver.name === "overlay" ? "overlay2" : driver.name, DriverStatus: [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]] }),
    diskUsage: async (types) => {
      if (types.length > 0 && !types.includes("image")) return {};
      return { LayersSize: images.graph.allLayers().reduce((n, l) => n + l.size, 0), Images: images.diskUsage() };
    },
  });
  ctx.onReady(() => images.reconcile((key) => ctx.isContainerSnapshot(key)));
};

/** The names in a directory, dot entries (the driver's own bookkeeping) left out. */
function entriesOf(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => !name.startsWith(".")) : [];
}
