import { describe, expect, test } from "bun:test";
import { InvalidParameterError } from "../errors.ts";
import { decodeRegistryAuthHeader, mergeScopes, parseAuthChallenges } from "./auth.ts";
import { isInsecureDomain, resolveEndpoints } from "./endpoint.ts";
import { normalizePlatform, parsePlatform, selectPlatformManifest } from "./platform.ts";
import { familiarString, formatReference, parseReference, parseRepository } from "./reference.ts";
import type { Descriptor } from "./types.ts";

const HEX = "a".repeat(64);

describe("parseReference", () => {
  test.each([
    ["busybox", "docker.io/library/busybox:latest", "busybox:latest"],
    ["library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"],
    ["user/app", "docker.io/user/app:latest", "user/app:latest"],
    ["index.docker.io/app", "docker.io/library/app:latest", "app:latest"],
    ["docker.io/a/b/c:v1", "docker.io/a/b/c:v1", "a/b/c:v1"],
    ["127.0.0.1:5000/x/y:tag", "127.0.0.1:5000/x/y:tag", "127.0.0.1:5000/x/y:tag"],
    ["localhost/foo", "localhost/foo:latest", "localhost/foo:latest"],
    ["[::1]:5000/foo:bar", "[::1]:5000/foo:bar", "[::1]:5000/foo:bar"],
    ["Registry.Example/foo", "Registry.Example/foo:latest", "Registry.Example/foo:latest"],
    [`busybox@sha256:${HEX}`, `docker.io/library/busybox@sha256:${HEX}`, `busybox@sha256:${HEX}`],
    [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`, `busybox:1@sha256:${HEX}`],
    ["a_b.c-d__e---f", "docker.io/library/a_b.c-d__e---f:latest", "a_b.c-d__e---f:latest"],
  ])("%s", (input, canonical, familiar) => {
    const ref = parseReference(input);
    expect(formatReference(ref)).toBe(canonical);
    expect(familiarString(ref)).toBe(familiar);
  });

  test("parts are split out", () => {
    expect(parseReference(`localhost:5000/x/y:t@sha256:${HEX}`)).toEqual({
      domain: "localhost:5000",
      path: "x/y",
      tag: "t",
      digest: `sha256:${HEX}`,
    });
    expect(parseReference("busybox", { defaultTag: false })).toEqual({ domain: "docker.io", path: "library/busybox" });
  });

  test.each([
    ["", "invalid reference format: repository name must have at least one component"],
    ["BusyBox", "invalid reference format: repository name (library/BusyBox) must be lowercase"],
    ["a b", "invalid reference format"],
    [":tag", "invalid reference format: repository name must have at least one component"],
    ["foo:", "invalid reference format"],
    ["-foo", "invalid reference format"],
    ["foo/", "invalid reference format"],
    ["foo//bar", "invalid reference format"],
    ["foo@sha256:abc", "invalid reference format"],
    [`foo@sha256:${"a".repeat(63)}`, "invalid reference format"],
    [`foo:${"t".repeat(129)}`, "invalid reference format"],
    [HEX, `invalid repository name (${HEX}), cannot specify 64-byte hexadecimal strings`],
  ])("%p is refused", (input, message) => {
    expect(() => parseReference(input)).toThrow(new InvalidParameterError(message));
  });

  test("parseRepository refuses a tag", () => {
    expect(parseRepository("127.0.0.1:5000/x")).toEqual({ domain: "127.0.0.1:5000", path: "x" });
    expect(() => parseRepository("x:1")).toThrow(InvalidParameterError);
  });
});

describe("platforms", () => {
  const entry = (architecture: string, variant?: string): Descriptor => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: `sha256:${architecture}${variant ?? ""}`,
    size: 1,
    platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
  });

  test("normalisation", () => {
    expect(normalizePlatform({ os: "Linux", architecture: "x86_64" })).toEqual({ os: "linux", architecture: "amd64" });
    expect(normalizePlatform({ os: "linux", architecture: "aarch64" })).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(normalizePlatform({ os: "linux", architecture: "armhf" })).toEqual({ os: "linux", architecture: "arm", variant: "v7" });
    expect(parsePlatform("linux/arm/6")).toEqual({ os: "linux", architecture: "arm", variant: "v6" });
    expect(() => parsePlatform("linux//v7")).toThrow(InvalidParameterError);
  });

  test("selection", () => {
    const index = [entry("amd64"), entry("arm64", "v8"), entry("arm", "v6"), entry("arm", "v7"), entry("unknown")];
    expect(selectPlatformManifest(index, { os: "linux", architecture: "amd64" })?.digest).toBe("sha256:amd64");
    expect(selectPlatformManifest(index, { os: "linux", architecture: "arm64" })?.digest).toBe("sha256:arm64v8");
    expect(selectPlatformManifest(index, { os: "linux", architecture: "arm" })?.digest).toBe("sha256:armv7");
    expect(selectPlatformManifest(index, { os: "linux", architecture: "arm", variant: "v6" })?.digest).toBe("sha256:armv6");
    // An ARMv8 32-bit CPU runs v7 images; a v5 CPU runs none of these.
    expect(selectPlatformManifest(index, { os: "linux", architecture: "arm", variant: "v8" })?.digest).toBe("sha256:armv7");
    expect(selectPlatformManifest(index, { os: "linux", architecture: "arm", variant: "v5" })).toBeUndefined();
    expect(selectPlatformManifest(index, { os: "windows", architecture: "amd64" })).toBeUndefined();
    expect(selectPlatformManifest([entry("arm64")], { os: "linux", architecture: "arm64", variant: "v8" })?.digest).toBe("sha256:arm64");
  });
});

describe("auth helpers", () => {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

  test("X-Registry-Auth decoding", () => {
    expect(decodeRegistryAuthHeader(encode({ username: "u", password: "p", serveraddress: "x" }))).toEqual({ username: "u", password: "p" });
    expect(decodeRegistryAuthHeader(encode({ identitytoken: "tok" }))).toEqual({ identitytoken: "tok" });
    expect(decodeRegistryAuthHeader(encode({ auth: Buffer.from("me:pw:x").toString("base64") }))).toEqual({ username: "me", password: "pw:x" });
    expect(decodeRegistryAuthHeader(encode({}))).toBeUndefined();
    expect(decodeRegistryAuthHeader("")).toBeUndefined();
    expect(decodeRegistryAuthHeader(undefined)).toBeUndefined();
    // Standard base64 with padding is accepted too.
    expect(decodeRegistryAuthHeader(Buffer.from('{"username":"ü","password":"?>"}').toString("base64"))).toEqual({
      username: "ü",
      password: "?>",
    });
    expect(() => decodeRegistryAuthHeader("not json")).toThrow(InvalidParameterError);
  });

  test("WWW-Authenticate parsing", () => {
    expect(
      parseAuthChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
      },
    ]);
    expect(parseAuthChallenges('Basic realm="a, \\"b\\"", Bearer realm=x,error=insufficient_scope')).toEqual([
      { scheme: "basic", params: { realm: 'a, "b"' } },
      { scheme: "bearer", params: { realm: "x", error: "insufficient_scope" } },
    ]);
  });

  test("scopes merge per resource", () => {
    expect(mergeScopes(["repository:a:push", "repository:a:pull", "repository:b:pull", "registry:catalog:*"])).toEqual([
      "registry:catalog:*",
      "repository:a:pull,push",
      "repository:b:pull",
    ]);
  });
});

describe("endpoints", () => {
  test("plain HTTP only for loopback and insecure registries", () => {
    expect(resolveEndpoints("127.0.0.1:5000", "pull")).toEqual([{ url: "http://127.0.0.1:5000", mirror: false }]);
    expect(resolveEndpoints("localhost", "pull")[0]?.url).toBe("http://localhost");
    expect(resolveEndpoints("[::1]:5000", "pull")[0]?.url).toBe("http://[::1]:5000");
    expect(resolveEndpoints("127.9.8.7", "pull")[0]?.url).toBe("http://127.9.8.7");
    expect(resolveEndpoints("registry.example:5000", "pull")[0]?.url).toBe("https://registry.example:5000");
    expect(isInsecureDomain("10.1.2.3:5000", ["10.0.0.0/8"])).toBe(true);
    expect(isInsecureDomain("11.1.2.3:5000", ["10.0.0.0/8"])).toBe(false);
    expect(isInsecureDomain("reg.lan:5000", ["reg.lan:5000"])).toBe(true);
    expect(isInsecureDomain("reg.lan:5001", ["reg.lan:5000"])).toBe(false);
    expect(isInsecureDomain("128.0.0.1", [])).toBe(false);
  });

  test("docker.io goes to registry-1.docker.io, after mirrors for pulls only", () => {
    const options = { mirrors: ["https://mirror.example/"] };
    expect(resolveEndpoints("docker.io", "pull", options)).toEqual([
      { url: "https://mirror.example", mirror: true },
      { url: "https://registry-1.docker.io", mirror: false },
    ]);
    expect(resolveEndpoints("docker.io", "push", options)).toEqual([{ url: "https://registry-1.docker.io", mirror: false }]);
    expect(resolveEndpoints("quay.io", "pull", options)).toEqual([{ url: "https://quay.io", mirror: false }]);
    expect(() => resolveEndpoints("docker.io", "pull", { mirrors: ["ftp://x"] })).toThrow(InvalidParameterError);
  });
});
