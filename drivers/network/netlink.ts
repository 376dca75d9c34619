/**
 * rtnetlink over a raw AF_NETLINK socket: links (bridge, veth), IPv4 addresses and routes. Requests are
 * synchronous (blocking sendto/recvfrom on the JS thread); each takes well under a millisecond.
 *
 * A socket acts on the network namespace it was created in, so `Netlink.openIn(ns)` creates the socket
 * with the JS thread briefly inside `ns` and can then be used from the daemon's own namespace.
 */
import { close, recvfrom, sendto, setsockoptInt, socket, strerror, SysError } from "../libc/libc";
import { errnoName } from "../libc/errno";
import { ipv4Bytes, ipv4FromBytes, parseMac, formatMac, type Cidr } from "./ipv4";
import { inNetns, withNetnsFd, type NetnsRef } from "./netns";
import { concatBytes } from "../util/bytes";

const AF_NETLINK = 16;
const AF_INET = 2;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

const RTM = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, NEWADDR: 20, GETADDR: 22, NEWROUTE: 24, GETROUTE: 26 } as const;
const RTM_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]));

const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, MASTER: 10, LINKINFO: 18, NET_NS_FD: 28 } as const;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, TABLE: 15 } as const;

const IFF_UP = 0x1;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RTN_UNICAST = 1;

const HEADER = 16;

/** A failed request: `errno` comes from the kernel's ACK (e.g. 17 EEXIST, 19 ENODEV). */
export class NetlinkError extends Error {
  constructor(
    readonly operation: string,
    readonly errno: number,
    readonly kernelMessage = "",
  ) {
    super(`netlink ${operation}: ${errnoName(errno)} (${strerror(errno)})${kernelMessage ? `: ${kernelMessage}` : ""}`);
    this.name = "NetlinkError";
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

export type LinkRef = string | number;

export interface LinkInfo {
  index: number;
  name: string;
  up: boolean;
  mtu: number;
  mac: string | null;
  /** Index of the bridge this link is enslaved to. */
  master: number | null;
  /** `bridge`, `veth`, ... or null for plain devices such as `lo`. */
  kind: string | null;
}

export interface AddressInfo {
  index: number;
  address: number;
  prefix: number;
}

export interface RouteInfo {
  table: number;
  dst: Cidr;
  gateway: number | null;
  oif: number | null;
}

export interface VethSpec {
  name: string;
  mtu?: number;
  peer: {
    name: string;
    /** Create the peer directly in this namespace (IFLA_NET_NS_FD); default: the socket's namespace. */
    netns?: NetnsRef;
    mtu?: number;
    mac?: string;
  };
}

// ---- message encoding ----

type Attr = { type: number; data: Uint8Array } | { type: number; nested: Attr[] };

function align4(n: number): number {
  return (n + 3) & ~3;
}

function encodeAttrs(attrs: Attr[]): Uint8Array {
  const parts = attrs.map((a) => {
    const payload = "data" in a ? a.data : encodeAttrs(a.nested);
    const out = new Uint8Array(align4(4 + payload.length));
    const view = new DataView(out.buffer);
    view.setUint16(0, 4 + payload.length, true);
    view.setUint16(2, a.type, true);
    out.set(payload, 4);
    return out;
  });
  return concatBytes(parts);
}

const u32Attr = (type: number, value: number): Attr => {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, value, true);
  return { type, data };
};
const strAttr = (type: number, value: string): Attr => ({ type, data: new TextEncoder().encode(value + "\0") });
const ipAttr = (type: number, value: number): Attr => ({ type, data: ipv4Bytes(value) });

function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setInt32(4, index, true);
  v.setUint32(8, flags, true);
  v.setUint32(12, change, true);
  return b;
}

function ifaddrmsg(prefix: number, index: number): Uint8Array {
  const b = Uint8Array.of(AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, 0, 0, 0, 0);
  new DataView(b.buffer).setUint32(4, index, true);
  return b;
}

function rtmsg(dstLen: number): Uint8Array {
  return Uint8Array.of(AF_INET, dstLen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0, 0, 0, 0);
}

// ---- message decoding ----

function parseAttrs(buf: Uint8Array): Map<number, Uint8Array> {
  const attrs = new Map<number, Uint8Array>();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let at = 0; at + 4 <= buf.length; ) {
    const len = view.getUint16(at, true);
    if (len < 4) break;
    attrs.set(view.getUint16(at + 2, true) & 0x3fff, buf.subarray(at + 4, at + len));
    at += align4(len);
  }
  return attrs;
}

const readU32 = (b: Uint8Array | undefined): number | null =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : null;
const readStr = (b: Uint8Array | undefined): string | null => {
  if (!b) return null;
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
};

interface RawMessage {
  type: number;
  flags: number;
  body: Uint8Array;
}

function decodeLink(body: Uint8Array): LinkInfo {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const attrs = parseAttrs(body.subarray(16));
  const linkinfo = attrs.get(IFLA.LINKINFO);
  const mac = attrs.get(IFLA.ADDRESS);
  return {
    index: view.getInt32(4, true),
    up: (view.getUint32(8, true) & IFF_UP) !== 0,
    name: readStr(attrs.get(IFLA.IFNAME)) ?? "",
    mtu: readU32(attrs.get(IFLA.MTU)) ?? 0,
    mac: mac && mac.length === 6 ? formatMac(mac) : null,
    master: readU32(attrs.get(IFLA.MASTER)),
    kind: linkinfo ? readStr(parseAttrs(linkinfo).get(IFLA_INFO_KIND)) : null,
  };
}

function decodeAddress(body: Uint8Array): AddressInfo | null {
  if (body[0] !== AF_INET) return null;
  const attrs = parseAttrs(body.subarray(8));
  const local = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (!local) return null;
  return { index: new DataView(body.buffer, body.byteOffset).getUint32(4, true), prefix: body[1]!, address: ipv4FromBytes(local) };
}

function decodeRoute(body: Uint8Array): RouteInfo | null {
  if (body[0] !== AF_INET) return null;
  const attrs = parseAttrs(body.subarray(12));
  const dst = attrs.get(RTA.DST);
  const gw = attrs.get(RTA.GATEWAY);
  return {
    table: readU32(attrs.get(RTA.TABLE)) ?? body[4]!,
    dst: { network: dst ? ipv4FromBytes(dst) : 0, prefix: body[1]! },
    gateway: gw ? ipv4FromBytes(gw) : null,
    oif: readU32(attrs.get(RTA.OIF)),
  };
}

// ---- the socket ----

export class Netlink {
  private seq = 1;
  private readonly buf = new Uint8Array(65536);
  private closed = false;

  private constructor(private readonly fd: number) {
    setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
    setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
  }

  /** A socket on the JS thread's current network namespace. */
  static open(): Netlink {
    return new Netlink(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  }

  /** A socket bound to `netns`, usable afterwards from the daemon's own namespace. */
  static openIn(netns: NetnsRef): Netlink {
    return inNetns(netns, () => Netlink.open());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // -- links --

  createBridge(name: string, options: { mtu?: number } = {}): void {
    const attrs: Attr[] = [strAttr(IFLA.IFNAME, name), { type: IFLA.LINKINFO, nested: [strAttr(IFLA_INFO_KIND, "bridge")] }];
    if (options.mtu) attrs.push(u32Attr(IFLA.MTU, options.mtu));
    this.request(RTM.NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(), attrs, name);
  }

  /** Create a veth pair; the peer can be created straight inside another namespace, so it never appears here. */
  createVeth(spec: VethSpec): void {
    const build = (peerNsFd: number | null) => {
      const peer: Attr[] = [strAttr(IFLA.IFNAME, spec.peer.name)];
      if (peerNsFd !== null) peer.push(u32Attr(IFLA.NET_NS_FD, peerNsFd));
      if (spec.peer.mtu) peer.push(u32Attr(IFLA.MTU, spec.peer.mtu));
      if (spec.peer.mac) peer.push({ type: IFLA.ADDRESS, data: parseMac(spec.peer.mac) });
      // VETH_INFO_PEER carries a whole ifinfomsg followed by the peer's attributes.
      const peerData = concatBytes([ifinfomsg(), encodeAttrs(peer)]);
      const attrs: Attr[] = [
        strAttr(IFLA.IFNAME, spec.name),
        { type: IFLA.LINKINFO, nested: [strAttr(IFLA_INFO_KIND, "veth"), { type: IFLA_INFO_DATA, nested: [{ type: VETH_INFO_PEER, data: peerData }] }] },
      ];
      if (spec.mtu) attrs.push(u32Attr(IFLA.MTU, spec.mtu));
      this.request(RTM.NEWLINK, NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(), attrs, spec.name);
    };
    if (spec.peer.netns === undefined) build(null);
    else withNetnsFd(spec.peer.netns, build);
  }

  rename(link: LinkRef, newName: string): void {
    this.changeLink(link, [strAttr(IFLA.IFNAME, newName)]);
  }

  setMtu(link: LinkRef, mtu: number): void {
    this.changeLink(link, [u32Attr(IFLA.MTU, mtu)]);
  }

  /** Enslave `link` to the bridge `master`, or release it with null. */
  setMaster(link: LinkRef, master: LinkRef | null): void {
    this.changeLink(link, [u32Attr(IFLA.MASTER, master === null ? 0 : this.indexOf(master))]);
  }

  setUp(link: LinkRef): void {
    this.changeLink(link, [], IFF_UP);
  }

  setDown(link: LinkRef): void {
    this.changeLink(link, [], 0);
  }

  deleteLink(link: LinkRef): void {
    this.request(RTM.DELLINK, 0, ifinfomsg(this.indexOf(link)), [], String(link));
  }

  /** The link, or null when there is no such link in this socket's namespace. */
  getLink(link: LinkRef): LinkInfo | null {
    const attrs = typeof link === "string" ? [strAttr(IFLA.IFNAME, link)] : [];
    try {
      const [reply] = this.exchange(RTM.GETLINK, 0, ifinfomsg(typeof link === "number" ? link : 0), attrs, String(link), false);
      return reply ? decodeLink(reply.body) : null;
    } catch (err) {
      if (err instanceof NetlinkError && err.errno === 19 /* ENODEV */) return null;
      throw err;
    }
  }

  listLinks(): LinkInfo[] {
    return this.exchange(RTM.GETLINK, NLM_F_DUMP, ifinfomsg(), [], "dump links", false).map((m) => decodeLink(m.body));
  }

  // -- addresses and routes --

  addAddress(link: LinkRef, address: number, prefix: number): void {
    const attrs = [ipAttr(IFA_LOCAL, address), ipAttr(IFA_ADDRESS, address)];
    this.request(RTM.NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifaddrmsg(prefix, this.indexOf(link)), attrs, String(link));
  }

  listAddresses(link?: LinkRef): AddressInfo[] {
    const index = link === undefined ? null : this.indexOf(link);
    const msgs = this.exchange(RTM.GETADDR, NLM_F_DUMP, ifaddrmsg(0, 0), [], "dump addresses", false);
    return msgs.map((m) => decodeAddress(m.body)).filter((a): a is AddressInfo => a !== null && (index === null || a.index === index));
  }

  /** Add a route in the main table: `dst` defaults to 0.0.0.0/0 (the default route). */
  addRoute(route: { dst?: Cidr; gateway?: number; link?: LinkRef }): void {
    const dst = route.dst ?? { network: 0, prefix: 0 };
    const attrs: Attr[] = [];
    if (dst.prefix > 0) attrs.push(ipAttr(RTA.DST, dst.network));
    if (route.gateway !== undefined) attrs.push(ipAttr(RTA.GATEWAY, route.gateway));
    if (route.link !== undefined) attrs.push(u32Attr(RTA.OIF, this.indexOf(route.link)));
    this.request(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, rtmsg(dst.prefix), attrs, "route");
  }

  /** IPv4 routes of all tables. */
  listRoutes(): RouteInfo[] {
    const msgs = this.exchange(RTM.GETROUTE, NLM_F_DUMP, rtmsg(0), [], "dump routes", false);
    return msgs.map((m) => decodeRoute(m.body)).filter((r): r is RouteInfo => r !== null);
  }

  // -- plumbing --

  private indexOf(link: LinkRef): number {
    if (typeof link === "number") return link;
    const info = this.getLink(link);
    if (!info) throw new NetlinkError(`lookup ${link}`, 19 /* ENODEV */);
    return info.index;
  }

  private changeLink(link: LinkRef, attrs: Attr[], upFlag?: number): void {
    const msg = ifinfomsg(this.indexOf(link), upFlag ?? 0, upFlag === undefined ? 0 : IFF_UP);
    this.request(RTM.NEWLINK, 0, msg, attrs, String(link));
  }

  private request(type: number, flags: number, fixed: Uint8Array, attrs: Attr[], what: string): void {
    this.exchange(type, flags, fixed, attrs, what, true);
  }

  /** Send one request and collect its replies until the ACK (`ack`) or the end of the dump. */
  private exchange(type: number, flags: number, fixed: Uint8Array, attrs: Attr[], what: string, ack: boolean): RawMessage[] {
    if (this.closed) throw new Error("netlink socket is closed");
    const seq = this.seq++;
    const payload = concatBytes([fixed, encodeAttrs(attrs)]);
    const msg = new Uint8Array(HEADER + payload.length);
    const view = new DataView(msg.buffer);
    view.setUint32(0, msg.length, true);
    view.setUint16(4, type, true);
    view.setUint16(6, NLM_F_REQUEST | flags | (ack ? NLM_F_ACK : 0), true);
    view.setUint32(8, seq, true);
    msg.set(payload, HEADER);
    const operation = `${RTM_NAMES[type] ?? type} ${what}`;
    const kernelAddr = new Uint8Array(12);
    new DataView(kernelAddr.buffer).setUint16(0, AF_NETLINK, true);
    sendto(this.fd, msg, 0, kernelAddr);

    const replies: RawMessage[] = [];
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    for (;;) {
      const n = this.receive();
      const rv = new DataView(this.buf.buffer, 0, n);
      for (let at = 0; at + HEADER <= n; ) {
        const len = rv.getUint32(at, true);
        if (len < HEADER || at + len > n) break;
        const mtype = rv.getUint16(at + 4, true);
        const mflags = rv.getUint16(at + 6, true);
        const mseq = rv.getUint32(at + 8, true);
        const body = this.buf.slice(at + HEADER, at + len);
        at += align4(len);
        if (mseq !== seq) continue;
        if (mtype === NLMSG_DONE) return replies;
        if (mtype === NLMSG_ERROR) {
          const code = -new DataView(body.buffer).getInt32(0, true);
          if (code !== 0) throw new NetlinkError(operation, code, extAckMessage(body, mflags));
          return replies;
        }
        replies.push({ type: mtype, flags: mflags, body });
        if (!dump && !ack) return replies;
      }
    }
  }

  private receive(): number {
    for (;;) {
      try {
        return recvfrom(this.fd, this.buf);
      } catch (err) {
        if (err instanceof SysError && err.errno === 4 /* EINTR */) continue;
        throw err;
      }
    }
  }
}

/** The kernel's explanation in an extended ACK (NETLINK_EXT_ACK), if it gave one. */
function extAckMessage(errBody: Uint8Array, flags: number): string {
  if (!(flags & NLM_F_ACK_TLVS)) return "";
  // nlmsgerr = int error + the original nlmsghdr (payload omitted thanks to NETLINK_CAP_ACK).
  return readStr(parseAttrs(errBody.subarray(4 + HEADER)).get(NLMSGERR_ATTR_MSG)) ?? "";
}
