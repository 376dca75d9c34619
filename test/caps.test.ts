import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import {
  ALL_CAPABILITIES, capabilityMask, capabilityName, capabilityNames, capabilityNumber, DEFAULT_CAPABILITIES,
  hostCapabilities, normalizeCapabilityName, resolveCapabilities,
} from "../drivers/exec/caps";

const everything = (1n << 41n) - 1n;
const cap = (name: string) => 1n << BigInt(capabilityNumber(name));

describe("capability names", () => {
  test("all 41 capabilities, numbered as in linux/capability.h", () => {
    expect(ALL_CAPABILITIES).toHaveLength(41);
    expect(capabilityNumber("CAP_CHOWN")).toBe(0);
    expect(capabilityNumber("CAP_NET_ADMIN")).toBe(12);
    expect(capabilityNumber("CAP_SYS_ADMIN")).toBe(21);
    expect(capabilityNumber("CAP_SYS_RESOURCE")).toBe(24);
    expect(capabilityNumber("CAP_AUDIT_READ")).toBe(37);
    expect(capabilityNumber("CAP_CHECKPOINT_RESTORE")).toBe(40);
    expect(capabilityName(39)).toBe("CAP_BPF");
  });

  test("accepts NET_ADMIN, CAP_NET_ADMIN and any case", () => {
    for (const spelling of ["NET_ADMIN", "CAP_NET_ADMIN", "net_admin", "Cap_Net_Admin"]) {
      expect(normalizeCapabilityName(spelling)).toBe("CAP_NET_ADMIN");
    }
    expect(normalizeCapabilityName("all")).toBe("ALL");
  });

  test("unknown names fail with a clear message", () => {
    expect(() => normalizeCapabilityName("CAP_FOO")).toThrow('unknown capability: "CAP_FOO"');
    expect(() => resolveCapabilities({ add: ["foo"], host: everything })).toThrow('unknown capability: "CAP_FOO"');
  });

  test("masks round-trip", () => {
    const mask = capabilityMask(DEFAULT_CAPABILITIES);
    expect(capabilityNames(mask).sort()).toEqual([...DEFAULT_CAPABILITIES].sort());
  });
});

describe("resolveCapabilities", () => {
  test("default is Docker's 14, inheritable empty", () => {
    const sets = resolveCapabilities({ host: everything });
    expect(sets.names).toHaveLength(14);
    expect(sets.bounding).toBe(capabilityMask(DEFAULT_CAPABILITIES));
    expect(sets.effective).toBe(sets.bounding);
    expect(sets.permitted).toBe(sets.bounding);
    expect(sets.inheritable).toBe(0n);
  });

  test("add and drop", () => {
    const sets = resolveCapabilities({ add: ["NET_ADMIN", "sys_ptrace"], drop: ["CAP_NET_RAW", "mknod"], host: everything });
    expect(sets.bounding).toBe((capabilityMask(DEFAULT_CAPABILITIES) | cap("NET_ADMIN") | cap("SYS_PTRACE")) & ~cap("NET_RAW") & ~cap("MKNOD"));
  });

  test("--cap-drop ALL keeps only the adds; --cap-add ALL gives everything but the drops", () => {
    expect(resolveCapabilities({ drop: ["ALL"], add: ["chown"], host: everything }).bounding).toBe(cap("CHOWN"));
    expect(resolveCapabilities({ drop: ["all"], host: everything }).bounding).toBe(0n);
    expect(resolveCapabilities({ add: ["ALL"], drop: ["SYS_ADMIN"], host: everything }).bounding).toBe(everything & ~cap("SYS_ADMIN"));
  });

  test("privileged gets exactly what this process holds in its bounding set", () => {
    const host = hostCapabilities();
    const capBnd = readFileSync("/proc/self/status", "utf8").match(/^CapBnd:\s*([0-9a-f]+)$/m)![1]!;
    expect(host).toBe(BigInt(`0x${capBnd}`) & everything);
    const sets = resolveCapabilities({ privileged: true, add: ["NET_ADMIN"], drop: ["CHOWN"] });
    expect(sets.bounding).toBe(host);
    expect(sets.unavailable).toEqual([]);
  });

  test("a capability the host lacks is left out and reported, not fatal", () => {
    const host = everything & ~cap("SYS_RESOURCE");
    const sets = resolveCapabilities({ add: ["SYS_RESOURCE", "NET_ADMIN"], host });
    expect(sets.unavailable).toEqual(["CAP_SYS_RESOURCE"]);
    expect(sets.bounding & cap("SYS_RESOURCE")).toBe(0n);
    expect(sets.bounding & cap("NET_ADMIN")).toBe(cap("NET_ADMIN"));
    expect(resolveCapabilities({ privileged: true, host }).bounding).toBe(host);
  });
});
