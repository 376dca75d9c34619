import { installImages } from "../images/install";
import { installNetworks } from "../networks/install";
import { installContainers } from "../containers/install";
import { installVolumes } from "../volumes/install";
import type { ServiceInstaller } from "./daemon";

/** Every service the daemon runs, in start-up order (each may use what the earlier ones registered). */
export const SERVICES: ServiceInstaller[] = [installImages, installNetworks, installVolumes, installContainers];
