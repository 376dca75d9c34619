/** Nanosecond wall-clock times in docker's RFC 3339 form (`2026-11-29T01:33:15.066734707Z`). */

const originNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

/** Wall-clock nanoseconds since the epoch: Date.now's origin advanced by the monotonic clock. */
export function nowNs(): bigint {
  return originNs + process.hrtime.bigint();
}

export function rfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

/**
 * `docker logs -t` prints every fraction digit (moby's RFC3339NanoFixed), while the json-file holds Go's
 * RFC3339Nano with trailing zeros trimmed.
 */
export function fixedNanoStamp(rfc3339: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(rfc3339);
  return m ? `${m[1]}.${(m[2] ?? "").padEnd(9, "0")}Z` : rfc3339;
}

export function nowRfc3339(): string {
  return rfc3339Nano(nowNs());
}

/** Parse RFC 3339 with up to nanosecond precision into ns since the epoch (NaN when invalid). */
export function parseRfc3339Ns(text: string): number {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return Number.NaN;
  const base = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(base)) return Number.NaN;
  return base * 1e6 + Number((m[2] ?? "0").padEnd(9, "0").slice(0, 9));
}

/** docker's `since`/`until`: Unix seconds with an optional fraction ("1795915990.5"), or RFC 3339. */
export function parseTimestampNs(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) {
    const [sec = "0", frac = ""] = text.split(".");
    return Number(sec) * 1e9 + Number(frac.padEnd(9, "0").slice(0, 9));
  }
  return parseRfc3339Ns(text);
}
