import { InvalidParameterError } from "../errors";

export const API_VERSION = "1.51";
export const MIN_API_VERSION = "1.24";

export function compareApiVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am !== bm ? am - bm : an - bn;
}

const PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

/**
 * Split `/v1.41/containers/json` into the requested API version and the unversioned path; an unversioned
 * path means the default version. Out-of-range versions get docker's 400 wording.
 */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = PREFIX.exec(pathname);
  if (!m) return { version: API_VERSION, path: pathname };
  const version = m[1]!;
  if (compareApiVersions(version, MIN_API_VERSION) < 0)
    throw new InvalidParameterError(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  if (compareApiVersions(version, API_VERSION) > 0)
    throw new InvalidParameterError(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  return { version, path: m[2]! };
}
