import { installImages } from "../images/install";
import { installNetworks } from "../networks/install";
import { installContainers, installKeeper } from "../containers/install";
import { installVolumes } from "../volumes/install";
import { installBuild } from "../build/install";
import type { ServiceInstaller } from "./daemon";

/**
 * Every service the daemon runs, in start-up order (each may use what the earlier ones registered). The keeper
 * comes first: it is forked from the daemon, so before anything loads a secret it could inherit.
 */
export const SERVICES: ServiceInstaller[] = [installKeeper, installImages, installNetworks, installVolumes, installContainers, installBuild];
