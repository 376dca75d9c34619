/**
 * `docker update`: the resource limits and the restart policy a container may change after create, merged into
 * its HostConfig with docker's rules (a zero or absent field keeps the current value).
 */
import type { CgroupResources } from "../../drivers/exec/cgroups";
import { InvalidParameterError } from "../errors";
import { checkResources, checkRestartPolicy, type HostLimits } from "./host-config";
import { cgroupResources } from "./run-spec";
import type { HostConfig, RestartPolicy } from "./types";

/** The body of `POST /containers/{id}/update`. */
export interface UpdateRequest {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuPeriod?: number;
  CpuQuota?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  RestartPolicy?: Partial<RestartPolicy>;
}

const NUMERIC_FIELDS = ["Memory", "MemorySwap", "MemoryReservation", "CpuPeriod", "CpuQuota", "CpuShares", "BlkioWeight"] as const;

export interface PlannedUpdate {
  hostConfig: HostConfig;
  /** What to write into the cgroup of a running container. */
  resources: CgroupResources;
  warnings: string[];
}

export function planUpdate(current: HostConfig, body: UpdateRequest, host: HostLimits): PlannedUpdate {
  const next: HostConfig = { ...current };
  for (const field of NUMERIC_FIELDS) {
    const value = body[field];
    if (value !== undefined && typeof value !== "number") throw new InvalidParameterError(`invalid value for ${field}: ${JSON.stringify(value)}`);
    if (value) next[field] = value;
  }
  if (body.Memory && !body.MemorySwap && current.MemorySwap > 0 && body.Memory > current.MemorySwap)
    throw new InvalidParameterError("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
  if (body.NanoCpus) {
    // --cpus replaces a quota/period pair set before, and the other way round.
    next.NanoCpus = body.NanoCpus;
    next.CpuQuota = 0;
    next.CpuPeriod = 0;
  } else if (body.CpuQuota || body.CpuPeriod) {
    next.NanoCpus = 0;
  }
  if (body.CpusetCpus) next.CpusetCpus = body.CpusetCpus;
  if (body.CpusetMems) next.CpusetMems = body.CpusetMems;
  if (body.PidsLimit !== undefined && body.PidsLimit !== null) next.PidsLimit = body.PidsLimit > 0 ? body.PidsLimit : null;
  if (body.RestartPolicy?.Name) {
    if (current.AutoRemove && body.RestartPolicy.Name !== "no") throw new InvalidParameterError("Restart policy cannot be updated because AutoRemove is enabled for the container");
    next.RestartPolicy = checkRestartPolicy({ Name: body.RestartPolicy.Name, MaximumRetryCount: body.RestartPolicy.MaximumRetryCount ?? 0 }, current.AutoRemove);
  }
  const warnings: string[] = [];
  checkResources(next, host, warnings);
  const resources = cgroupResources(next);
  // Device rules are written once, at create.
  delete resources.devices;
  // Lifting a limit is writing "no limit", which cgroupResources leaves out for create.
  if (next.PidsLimit === null && current.PidsLimit !== null) resources.pidsLimit = -1;
  return { hostConfig: next, resources, warnings };
}
