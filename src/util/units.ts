/** Sizes for people, as docker prints them (go-units HumanSizeWithPrecision: decimal units). */
export function humanSize(bytes: number, precision = 4): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(precision))}${units[i]}`;
}
