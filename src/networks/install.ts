import { networkRoutes } from "../api/routes/networks";
import type { ServiceInstaller } from "../daemon/daemon";
import { NetworkService } from "./service";

/** Network service: predefined networks and the default bridge come up at daemon start. */
export const installNetworks: ServiceInstaller = (ctx) => {
  const networks = new NetworkService(ctx.db, ctx.config, ctx.engine.events);
  ctx.networks = networks;
  ctx.routers.push(networkRoutes(networks));
  ctx.onReady(() => networks.init());
  ctx.onShutdown(() => networks.shutdown());
};
