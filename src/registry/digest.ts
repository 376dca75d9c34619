import { InvalidParameterError } from "../errors.ts";
import type { Digest } from "./types.ts";

/** Hex length of each algorithm we can verify. */
const HEX_LENGTH = { sha256: 64, sha384: 96, sha512: 128 } as const;
type DigestAlgorithm = keyof typeof HEX_LENGTH;

function isAlgorithm(name: string): name is DigestAlgorithm {
  return Object.hasOwn(HEX_LENGTH, name);
}

/** Splits and validates `algorithm:hex`; throws InvalidParameterError on anything else. */
export function parseDigest(digest: string): { algorithm: DigestAlgorithm; hex: string } {
  const colon = digest.indexOf(":");
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  if (colon < 0 || !isAlgorithm(algorithm)) {
    throw new InvalidParameterError(`invalid digest ${JSON.stringify(digest)}: unsupported digest algorithm`);
  }
  if (hex.length !== HEX_LENGTH[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidParameterError(`invalid digest ${JSON.stringify(digest)}: invalid checksum digest format`);
  }
  return { algorithm, hex };
}

export function isValidDigest(digest: string): boolean {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** Digest of a whole buffer with the given algorithm (sha256 by default). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${new Bun.CryptoHasher(algorithm).update(data).digest("hex")}`;
}

/** Incremental digest of a stream of chunks, for content too large to hold in memory. */
export class DigestHasher {
  readonly algorithm: DigestAlgorithm;
  private readonly hasher: Bun.CryptoHasher;

  constructor(algorithm: DigestAlgorithm = "sha256") {
    this.algorithm = algorithm;
    this.hasher = new Bun.CryptoHasher(algorithm);
  }

  /** A hasher matching the algorithm of an expected digest. */
  static for(expected: Digest): DigestHasher {
    return new DigestHasher(parseDigest(expected).algorithm);
  }

  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
  }

  digest(): Digest {
    return `${this.algorithm}:${this.hasher.digest("hex")}`;
  }
}
