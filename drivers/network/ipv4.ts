/**
 * IPv4 addresses as unsigned 32-bit numbers, and CIDR blocks built on them. Everything in the network
 * driver that compares, allocates or formats addresses goes through here.
 */

export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressError";
  }
}

export interface Cidr {
  /** Network address (host bits cleared). */
  readonly network: number;
  readonly prefix: number;
}

const DOTTED_QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpv4(text: string): boolean {
  const m = DOTTED_QUAD.exec(text);
  return m !== null && m.slice(1).every((octet) => Number(octet) <= 255 && (octet === "0" || !octet.startsWith("0")));
}

export function parseIpv4(text: string): number {
  if (!isIpv4(text)) throw new AddressError(`invalid IPv4 address: ${JSON.stringify(text)}`);
  return text.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

export function ipv4Bytes(value: number): Uint8Array {
  return Uint8Array.of(value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255);
}

export function ipv4FromBytes(bytes: Uint8Array): number {
  return ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function splitPrefixed(text: string): { address: number; prefix: number } {
  const slash = text.indexOf("/");
  const prefixText = slash < 0 ? "" : text.slice(slash + 1);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) throw new AddressError(`invalid CIDR address: ${text}`);
  return { address: parseIpv4(text.slice(0, slash)), prefix: Number(prefixText) };
}

/** Parse a block "a.b.c.d/n"; host bits must be zero, as Docker requires for `--subnet`. */
export function parseCidr(text: string): Cidr {
  const { address, prefix } = splitPrefixed(text);
  const network = (address & prefixMask(prefix)) >>> 0;
  if (network !== address) throw new AddressError(`invalid subnet ${text}: it should be ${formatIpv4(network)}/${prefix}`);
  return { network, prefix };
}

/** Parse an interface address with its prefix, "10.0.0.1/24". */
export function parseInterfaceAddress(text: string): { address: number; prefix: number } {
  return splitPrefixed(text);
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function broadcastOf(cidr: Cidr): number {
  return (cidr.network + cidrSize(cidr) - 1) >>> 0;
}

export function cidrContains(cidr: Cidr, address: number): boolean {
  return ((address & prefixMask(cidr.prefix)) >>> 0) === cidr.network;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.network) || cidrContains(b, a.network);
}

/** Within `outer` entirely (equal counts). */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

/** Docker derives a container's MAC from its IPv4 address: 02:42 followed by the four address bytes. */
export function macFromIpv4(address: number): string {
  return ["02", "42", ...Array.from(ipv4Bytes(address), (b) => b.toString(16).padStart(2, "0"))].join(":");
}

export function parseMac(text: string): Uint8Array {
  const parts = text.split(":");
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    throw new AddressError(`invalid MAC address: ${JSON.stringify(text)}`);
  }
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(":");
}
