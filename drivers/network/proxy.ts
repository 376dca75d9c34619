/**
 * The userland proxy (what docker-proxy does): listen on hostIp:hostPort and relay to the container. DNAT
 * cannot serve connections to 127.0.0.1 (the kernel never routes loopback-sourced packets out of the host),
 * so a published port on a loopback address, and localhost connections to a wildcard binding, come here.
 *
 * TCP keeps half-closes: when one side shuts down its writing half, the other side gets a FIN once all
 * buffered data is through, and data keeps flowing the other way. Backpressure pauses the reading side
 * while its peer's socket is full.
 */
import type { Socket, TCPSocketListener } from "bun";
import { PortAllocatedError } from "./portmap";

export interface ProxyTarget {
  proto: "tcp" | "udp";
  hostIp: string;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

export interface Proxy {
  /** The port actually listened on (useful with hostPort 0). */
  readonly port: number;
  close(): void;
}

/** Start a proxy; a taken host port fails with PortAllocatedError. */
export async function startProxy(target: ProxyTarget): Promise<Proxy> {
  return target.proto === "tcp" ? startTcpProxy(target) : startUdpProxy(target);
}

function listenAddress(hostIp: string): string {
  return hostIp === "" ? "0.0.0.0" : hostIp;
}

function isAddressInUse(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "EADDRINUSE";
}

// ---- TCP ----

/** One direction of a connection: bytes read from `from` are written to `to`. */
interface Flow {
  from: Socket<Link> | null;
  to: Socket<Link> | null;
  /** Bytes `to` did not take yet. */
  pending: Uint8Array[];
  /** `from` sent its FIN (or went away). */
  ended: boolean;
  /** Nothing more will be written to `to`: the FIN was passed on, or `to` is gone. */
  shut: boolean;
}

interface Link {
  /** The flow this socket reads into, and the flow that writes to it. */
  readsInto: Flow;
  writesFrom: Flow;
  pair: Pair;
}

interface Pair {
  up: Flow; // client → container
  down: Flow; // container → client
  closed: boolean;
}

function newFlow(): Flow {
  return { from: null, to: null, pending: [], ended: false, shut: false };
}

function closePair(pair: Pair): void {
  if (pair.closed) return;
  pair.closed = true;
  for (const flow of [pair.up, pair.down]) {
    flow.pending = [];
    flow.shut = true;
    flow.from?.end();
  }
}

/** Write what is queued; true when nothing is left. */
function flush(flow: Flow): boolean {
  const to = flow.to;
  if (!to) return false;
  while (flow.pending.length) {
    const chunk = flow.pending[0]!;
    const written = to.write(chunk);
    if (written < 0) {
      closePair(to.data.pair);
      return false;
    }
    if (written < chunk.length) {
      flow.pending[0] = chunk.subarray(written);
      return false;
    }
    flow.pending.shift();
  }
  return true;
}

/** Pass the FIN on once everything before it is written; close when both directions are done. */
function forwardEnd(flow: Flow, pair: Pair): void {
  if (flow.ended && !flow.shut && !flow.pending.length && flow.to) {
    flow.shut = true;
    flow.to.shutdown();
  }
  if (pair.up.shut && pair.down.shut) closePair(pair);
}

function relay(flow: Flow, data: Uint8Array): void {
  if (flow.shut) return; // the receiving side is gone
  if (flow.pending.length || !flow.to) {
    flow.pending.push(data.slice());
    flow.from?.pause();
    return;
  }
  const written = flow.to.write(data);
  if (written < 0) return closePair(flow.to.data.pair);
  if (written < data.length) {
    flow.pending.push(data.slice(written));
    flow.from?.pause();
  }
}

/**
 * A socket that closed has sent everything it will send (treat like its FIN) and can take nothing more.
 * Bun reports `close` rather than `end` when the FIN arrives after our own shutdown.
 */
function socketGone(socket: Socket<Link>): void {
  const { readsInto, writesFrom, pair } = socket.data;
  readsInto.from = null;
  readsInto.ended = true;
  writesFrom.to = null;
  writesFrom.pending = [];
  writesFrom.shut = true;
  writesFrom.from?.resume();
  forwardEnd(readsInto, pair);
}

/** Handlers shared by both sockets of a pair. */
const relayHandlers = {
  data(socket: Socket<Link>, data: Uint8Array) {
    relay(socket.data.readsInto, data);
  },
  drain(socket: Socket<Link>) {
    const flow = socket.data.writesFrom;
    if (flush(flow)) {
      flow.from?.resume();
      forwardEnd(flow, socket.data.pair);
    }
  },
  end(socket: Socket<Link>) {
    const flow = socket.data.readsInto;
    flow.ended = true;
    forwardEnd(flow, socket.data.pair);
  },
  close: socketGone,
  error: socketGone,
};

export function startTcpProxy(target: ProxyTarget): Proxy {
  let listener: TCPSocketListener<Link>;
  try {
    listener = Bun.listen<Link>({
      hostname: listenAddress(target.hostIp),
      port: target.hostPort,
      allowHalfOpen: true,
      socket: {
        ...relayHandlers,
        open(client) {
          const pair: Pair = { up: newFlow(), down: newFlow(), closed: false };
          pair.up.from = client;
          pair.down.to = client;
          client.data = { readsInto: pair.up, writesFrom: pair.down, pair };
          client.pause();
          connectUpstream(target, pair, client);
        },
      },
    });
  } catch (err) {
    if (isAddressInUse(err)) throw new PortAllocatedError(target.hostIp, target.hostPort, "tcp");
    throw err;
  }
  return {
    port: listener.port,
    close: () => listener.stop(true),
  };
}

function connectUpstream(target: ProxyTarget, pair: Pair, client: Socket<Link>): void {
  Bun.connect<Link>({
    hostname: target.targetIp,
    port: target.targetPort,
    allowHalfOpen: true,
    data: { readsInto: pair.down, writesFrom: pair.up, pair },
    socket: {
      ...relayHandlers,
      open(upstream) {
        if (pair.closed) return void upstream.end();
        pair.up.to = upstream;
        pair.down.from = upstream;
        if (flush(pair.up)) {
          client.resume();
          forwardEnd(pair.up, pair);
        }
      },
      connectError() {
        closePair(pair);
      },
    },
  }).catch(() => {
    // connectError above already closed the client.
  });
}

// ---- UDP ----

/** docker-proxy forgets a UDP "connection" after this long without traffic. */
const UDP_IDLE_MS = 90_000;

interface UdpPeer {
  upstream: Promise<Bun.udp.ConnectedSocket<"uint8array">>;
  lastSeen: number;
}

export async function startUdpProxy(target: ProxyTarget): Promise<Proxy> {
  const peers = new Map<string, UdpPeer>();
  let listener: Bun.udp.Socket<"uint8array">;
  try {
    listener = await Bun.udpSocket({
      hostname: listenAddress(target.hostIp),
      port: target.hostPort,
      binaryType: "uint8array",
      socket: {
        data(_sock, data, port, address) {
          const key = `${address}:${port}`;
          let peer = peers.get(key);
          if (!peer) {
            const upstream = Bun.udpSocket({
              binaryType: "uint8array",
              connect: { hostname: target.targetIp, port: target.targetPort },
              socket: {
                data(_up, reply) {
                  const p = peers.get(key);
                  if (p) p.lastSeen = Date.now();
                  listener.send(reply, port, address);
                },
                // The container refused (ICMP port unreachable): like docker-proxy, drop and carry on.
                error() {},
              },
            });
            peer = { upstream, lastSeen: Date.now() };
            peers.set(key, peer);
            upstream.catch(() => peers.delete(key));
          }
          peer.lastSeen = Date.now();
          const copy = data.slice();
          void peer.upstream.then((up) => up.send(copy)).catch(() => {});
        },
        error() {},
      },
    });
  } catch (err) {
    if (isAddressInUse(err)) throw new PortAllocatedError(target.hostIp, target.hostPort, "udp");
    throw err;
  }
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, peer] of peers) {
      if (now - peer.lastSeen < UDP_IDLE_MS) continue;
      peers.delete(key);
      void peer.upstream.then((up) => up.close()).catch(() => {});
    }
  }, UDP_IDLE_MS / 3);
  sweep.unref();
  return {
    port: listener.port,
    close() {
      clearInterval(sweep);
      listener.close();
      for (const peer of peers.values()) void peer.upstream.then((up) => up.close()).catch(() => {});
      peers.clear();
    },
  };
}
