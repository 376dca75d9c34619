/**
 * Embedded DNS for user-defined networks: a UDP responder (normally on the network's gateway address,
 * port 53, which containers then use as their nameserver) that answers container names and aliases from a
 * lookup callback and forwards every other question to the host's upstream resolvers.
 *
 * Only what that needs of the protocol is parsed: the header and the first question. Forwarded queries
 * and their answers pass through untouched. UDP only: a truncated upstream answer reaches the client with
 * its TC bit, but a retry over TCP is not served.
 */
import { readFileSync } from "node:fs";
import type { udp } from "bun";
import { ipv4Bytes, isIpv4, parseIpv4 } from "./ipv4";

const TYPE_A = 1;
const CLASS_IN = 1;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const RCODE_SERVFAIL = 2;

export interface Upstream {
  ip: string;
  port: number;
}

/** IPv4 addresses for a name (lowercase, no trailing dot), or null when it is not one of ours. */
export type NameLookup = (name: string) => string[] | null;

export interface DnsOptions {
  hostIp: string;
  port?: number;
  lookup: NameLookup;
  upstreams: Upstream[];
  /** Per upstream, before trying the next one. */
  timeoutMs?: number;
  ttl?: number;
}

export interface DnsServer {
  readonly port: number;
  close(): void;
}

const SYSTEMD_STUB = "127.0.0.53";

/**
 * The host's resolvers from resolv.conf. A host running systemd-resolved lists only its stub, so the real
 * upstreams come from /run/systemd/resolve/resolv.conf instead.
 */
export function hostUpstreams(resolvConf = "/etc/resolv.conf", systemdResolvConf = "/run/systemd/resolve/resolv.conf"): Upstream[] {
  const read = (path: string): string[] => {
    try {
      return readFileSync(path, "utf8")
        .split("\n")
        .map((line) => /^\s*nameserver\s+(\S+)/.exec(line)?.[1])
        .filter((ip): ip is string => ip !== undefined && isIpv4(ip));
    } catch {
      return [];
    }
  };
  let servers = read(resolvConf);
  if (servers.includes(SYSTEMD_STUB)) {
    const real = read(systemdResolvConf);
    if (real.length) servers = real;
  }
  return servers.map((ip) => ({ ip, port: 53 }));
}

interface Question {
  id: number;
  flags: number;
  /** Lowercased, without the trailing dot. */
  name: string;
  type: number;
  qclass: number;
  /** Offset just past the question, where answers go. */
  end: number;
}

function parseQuestion(packet: Uint8Array): Question | null {
  if (packet.length < 12) return null;
  const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
  if (view.getUint16(4) !== 1) return null; // exactly one question, as every stub resolver sends
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    const len = packet[at];
    if (len === undefined || len > 63) return null; // compression never appears in a question we accept
    at++;
    if (len === 0) break;
    if (at + len > packet.length) return null;
    labels.push(new TextDecoder().decode(packet.subarray(at, at + len)));
    at += len;
  }
  if (at + 4 > packet.length) return null;
  return { id: view.getUint16(0), flags: view.getUint16(2), name: labels.join(".").toLowerCase(), type: view.getUint16(at), qclass: view.getUint16(at + 2), end: at + 4 };
}

/** Our own answer: the question echoed, then one A record per address (none for other types: NODATA). */
function answer(query: Uint8Array, q: Question, addresses: string[], ttl: number): Uint8Array {
  const records = q.type === TYPE_A && q.qclass === CLASS_IN ? addresses : [];
  const out = new Uint8Array(q.end + records.length * 16);
  out.set(query.subarray(0, q.end));
  const view = new DataView(out.buffer);
  view.setUint16(2, FLAG_QR | FLAG_AA | FLAG_RA | (q.flags & FLAG_RD) | (q.flags & 0x7800));
  view.setUint16(6, records.length);
  view.setUint16(8, 0);
  view.setUint16(10, 0);
  records.forEach((ip, i) => {
    const at = q.end + i * 16;
    view.setUint16(at, 0xc00c); // pointer to the name in the question
    view.setUint16(at + 2, TYPE_A);
    view.setUint16(at + 4, CLASS_IN);
    view.setUint32(at + 6, ttl);
    view.setUint16(at + 10, 4);
    out.set(ipv4Bytes(parseIpv4(ip)), at + 12);
  });
  return out;
}

function servfail(query: Uint8Array, q: Question): Uint8Array {
  const out = query.slice(0, q.end);
  const view = new DataView(out.buffer);
  view.setUint16(2, FLAG_QR | FLAG_RA | (q.flags & FLAG_RD) | (q.flags & 0x7800) | RCODE_SERVFAIL);
  view.setUint16(6, 0);
  view.setUint16(8, 0);
  view.setUint16(10, 0);
  return out;
}

/** Ask one upstream over a socket of its own; the reply must carry our query's id. */
async function ask(upstream: Upstream, query: Uint8Array, id: number, timeoutMs: number): Promise<Uint8Array | null> {
  let settle!: (reply: Uint8Array | null) => void;
  const done = new Promise<Uint8Array | null>((resolve) => (settle = resolve));
  let sock: udp.ConnectedSocket<"uint8array"> | null = null;
  try {
    sock = await Bun.udpSocket({
      binaryType: "uint8array",
      connect: { hostname: upstream.ip, port: upstream.port },
      socket: {
        data(_s, reply) {
          if (reply.length >= 2 && new DataView(reply.buffer, reply.byteOffset).getUint16(0) === id) settle(reply.slice());
        },
        // ICMP port unreachable and the like: this upstream is out, try the next one now.
        error: () => settle(null),
      },
    });
    sock.send(query);
    const timer = setTimeout(() => settle(null), timeoutMs);
    const reply = await done;
    clearTimeout(timer);
    return reply;
  } catch {
    return null;
  } finally {
    sock?.close();
  }
}

export async function startDnsServer(options: DnsOptions): Promise<DnsServer> {
  const timeoutMs = options.timeoutMs ?? 2000;
  const ttl = options.ttl ?? 600;
  const server = await Bun.udpSocket({
    hostname: options.hostIp,
    port: options.port ?? 53,
    binaryType: "uint8array",
    socket: {
      data(sock, packet, port, address) {
        const q = parseQuestion(packet);
        if (!q) return;
        const local = options.lookup(q.name);
        if (local !== null) {
          sock.send(answer(packet, q, local, ttl), port, address);
          return;
        }
        const query = packet.slice();
        void (async () => {
          for (const upstream of options.upstreams) {
            const reply = await ask(upstream, query, q.id, timeoutMs);
            if (reply) return void sock.send(reply, port, address);
          }
          sock.send(servfail(query, q), port, address);
        })();
      },
      // A client that went away before its answer: nothing to do.
      error() {},
    },
  });
  return { port: server.port, close: () => server.close() };
}
