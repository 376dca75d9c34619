/**
 * The docker-init executable, compiled from init.c by build.ts before bundling and embedded in the binary
 * (a path inside $bunfs there). Imported lazily (install.ts) so that nothing else needs the artefact.
 */
import dockerInit from "../../../dist/docker-init" with { type: "file" };

export const DOCKER_INIT_PATH: string = dockerInit;
