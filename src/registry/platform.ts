/**
 * Platforms (`linux/arm64/v8`): parsing, normalisation and picking the best entry of an image index, following
 * containerd's rules (architecture aliases, default variants, older ARM variants as fall-backs).
 */
import { InvalidParameterError } from "../errors.ts";
import type { Descriptor, Platform } from "./types.ts";

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: "amd64" },
  "x86-64": { architecture: "amd64" },
  x64: { architecture: "amd64" },
  aarch64: { architecture: "arm64" },
  armhf: { architecture: "arm", variant: "v7" },
  armel: { architecture: "arm", variant: "v6" },
  i386: { architecture: "386" },
  i686: { architecture: "386" },
  ia32: { architecture: "386" },
};

/** Variant an entry without one is assumed to have. */
const DEFAULT_VARIANT: Record<string, string> = { arm64: "v8", arm: "v7", amd64: "v1" };

/** Lowercases and resolves aliases; fills the default variant for arm64/arm so equal platforms compare equal. */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  let architecture = platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase();
  const alias = ARCH_ALIASES[architecture];
  if (alias) {
    architecture = alias.architecture;
    variant ??= alias.variant;
  }
  if (architecture === "arm64" && (variant === "8" || variant === undefined)) variant = "v8";
  if (architecture === "arm" && variant !== undefined && /^[5-8]$/.test(variant)) variant = `v${variant}`;
  if (architecture === "arm") variant ??= "v7";
  if (architecture === "amd64" && (variant === "v1" || variant === "")) variant = undefined;
  const result: Platform = { os, architecture };
  if (variant) result.variant = variant;
  if (platform["os.version"]) result["os.version"] = platform["os.version"];
  return result;
}

/** Parses `os[/arch[/variant]]` (the `--platform` flag); the architecture defaults to the host's. */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().split("/");
  const [os, architecture, variant] = parts;
  if (parts.length > 3 || !os || (parts.length >= 2 && !architecture) || (parts.length === 3 && !variant)) {
    throw new InvalidParameterError(`invalid platform ${JSON.stringify(spec)}: expected os[/arch[/variant]]`);
  }
  const platform: Platform = { os, architecture: architecture ?? hostPlatform().architecture };
  if (variant) platform.variant = variant;
  return normalizePlatform(platform);
}

/** `linux/arm64/v8` */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join("/");
}

/** The platform of this machine, as images name it. */
export function hostPlatform(): Platform {
  return normalizePlatform({ os: process.platform, architecture: process.arch });
}

/** Variants a CPU of each variant can also run, newest first. */
const VARIANT_LADDERS: Record<string, string[]> = {
  arm: ["v8", "v7", "v6", "v5"],
  amd64: ["v4", "v3", "v2", "v1"],
};

/** Variants acceptable for `wanted`, best first: its own (or default) variant, then the older ones it can run. */
function acceptableVariants(wanted: Platform): (string | undefined)[] {
  const own = variantOf(wanted);
  const ladder = VARIANT_LADDERS[wanted.architecture];
  const start = ladder && own !== undefined ? ladder.indexOf(own) : -1;
  return ladder && start >= 0 ? ladder.slice(start) : [own];
}

function variantOf(platform: Platform): string | undefined {
  return platform.variant ?? DEFAULT_VARIANT[platform.architecture];
}

/**
 * Rank of `candidate` for `wanted`: 0 is a perfect match, higher is a worse compatible match, undefined is no match.
 */
export function platformMatchRank(wanted: Platform, candidate: Platform): number | undefined {
  const want = normalizePlatform(wanted);
  const have = normalizePlatform(candidate);
  if (want.os !== have.os || want.architecture !== have.architecture) return undefined;
  const rank = acceptableVariants(want).indexOf(variantOf(have));
  return rank < 0 ? undefined : rank;
}

export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  return platformMatchRank(wanted, candidate) !== undefined;
}

/** The best index entry for `wanted`, or undefined. Entries without a platform (attestations, artifacts) never match. */
export function selectPlatformManifest(manifests: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  let best: { descriptor: Descriptor; rank: number } | undefined;
  for (const descriptor of manifests) {
    if (!descriptor.platform) continue;
    const rank = platformMatchRank(wanted, descriptor.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { descriptor, rank };
  }
  return best?.descriptor;
}
