function scaled(bytes: number, base: number, units: readonly string[], precision: number): string {
  let i = 0;
  let v = bytes;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}

/** Sizes for people, as docker prints them (go-units HumanSizeWithPrecision: decimal units). */
export function humanSize(bytes: number, precision = 4): string {
  return scaled(bytes, 1000, ["B", "kB", "MB", "GB", "TB", "PB"], precision);
}

/** go-units BytesSize: binary units, four significant digits ("324KiB", "23.54GiB"). */
export function bytesSize(bytes: number): string {
  return scaled(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4);
}
