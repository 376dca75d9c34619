export type { CgroupHostInfo, CgroupManager, CgroupResources, CgroupStats, DeviceRule } from "./types";
export { cgroupHostInfo, createCgroupManager, detectCgroupLayout, type CgroupLayout, type CgroupManagerOptions } from "./detect";
export { CgroupError } from "./files";
export { ALLOW_ALL_DEVICES, DEFAULT_DEVICE_RULES } from "./resources";
export { CgroupV1Manager, type CgroupV1Options } from "./v1";
export { CgroupV2Manager, type CgroupV2Options } from "./v2";
