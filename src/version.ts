import pkg from "../package.json";

/** Build identity, shown by `bunker version` and `GET /version`. BUNKER_GIT_COMMIT is set by build.ts. */
export const BUNKER_VERSION: string = pkg.version;
export const GIT_COMMIT: string = process.env.BUNKER_GIT_COMMIT ?? "dev";
export const BUILD_TIME: string = process.env.BUNKER_BUILD_TIME ?? new Date(0).toISOString();
