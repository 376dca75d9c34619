/**
 * Networking: the per-container cost of wiring a bridge endpoint (lifecycle with the default bridge minus
 * `--network none`), and TCP throughput into a container through a published port on 127.0.0.1 (the userland
 * proxy) versus straight to the container's address over the bridge. Traffic goes only to the container.
 */
import { readFileSync } from "node:fs";
import { api, pull } from "../engine-api.ts";
import { benchRegistry } from "../registry.ts";
import { summarize } from "../stats.ts";
import type { BenchCase, Engine, Figure } from "../types.ts";

/** Send `bytes` to host:port, half-close, and wait for the container to answer how many bytes it got: MB/s. */
async function push(hostname: string, port: number, bytes: number): Promise<number> {
  const chunk = new Uint8Array(1 << 20).fill(0x61);
  let sent = 0;
  let answer = "";
  let resolveDone!: () => void;
  let rejectDone!: (e: Error) => void;
  const done = new Promise<void>((res, rej) => ((resolveDone = res), (rejectDone = rej)));
  const started = performance.now();
  const pump = (s: { write(d: Uint8Array): number; shutdown(): void }) => {
    while (sent < bytes) {
      const n = s.write(chunk);
      sent += n;
      if (n < chunk.length) return; // wait for drain (a partial write is fine: the payload is uniform)
    }
    s.shutdown();
  };
  await Bun.connect({
    hostname,
    port,
    allowHalfOpen: true,
    socket: {
      open: pump,
      drain: pump,
      data: (_s: unknown, d: Uint8Array) => void (answer += Buffer.from(d).toString()),
      close: () => resolveDone(),
      end: () => resolveDone(),
      error: (_s: unknown, e: Error) => rejectDone(e),
      connectError: (_s: unknown, e: Error) => rejectDone(e),
    },
  } as unknown as Parameters<typeof Bun.connect>[0]);
  await done;
  const seconds = (performance.now() - started) / 1000;
  if (Number(answer.trim()) !== sent) throw new Error(`the container counted ${JSON.stringify(answer.trim())} bytes of ${sent}`);
  return sent / 1e6 / seconds;
}

/** Until the container's network namespace has a TCP socket listening on `port` (/proc/<pid>/net/tcp{,6}, state 0A). */
async function untilListening(pid: number, port: number): Promise<void> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    // busybox nc listens on the IPv6 wildcard where the namespace has IPv6, which also takes IPv4.
    const table = ["tcp", "tcp6"].flatMap((file) => readFileSync(`/proc/${pid}/net/${file}`, "utf8").split("\n").slice(1));
    if (table.some((line) => line.trim().split(/\s+/)[1]?.endsWith(local) && line.trim().split(/\s+/)[3] === "0A")) return;
    await Bun.sleep(20);
  }
  throw new Error(`nothing listens on port ${port} in the sink container`);
}

async function sinkContainer(engine: Engine, image: string): Promise<{ id: string; ip: string; hostPort: number }> {
  const body = {
    Image: image,
    // busybox nc keeps listening (-ll) and hands each connection to `wc -c`, which answers with the byte count after EOF.
    Cmd: ["nc", "-ll", "-p", "5001", "-e", "wc", "-c"],
    ExposedPorts: { "5001/tcp": {} },
    HostConfig: { PortBindings: { "5001/tcp": [{ HostIp: "127.0.0.1", HostPort: "" }] } },
  };
  const { Id } = (await (await api(engine, "POST", "/containers/create", body)).json()) as { Id: string };
  await api(engine, "POST", `/containers/${Id}/start`);
  const info = (await (await api(engine, "GET", `/containers/${Id}/json`)).json()) as {
    State: { Pid: number };
    NetworkSettings: { IPAddress: string; Ports: Record<string, { HostPort: string }[]> };
  };
  await untilListening(info.State.Pid, 5001);
  return { id: Id, ip: info.NetworkSettings.IPAddress, hostPort: Number(info.NetworkSettings.Ports["5001/tcp"]![0]!.HostPort) };
}

export const networkCase: BenchCase = {
  name: "network",
  async run(context) {
    const { info } = await benchRegistry();
    const bunker = await context.bunker();
    await pull(bunker, info.busybox.reference);
    const sink = await sinkContainer(bunker, info.busybox.reference);
    try {
      const bytes = (context.quick ? 64 : 256) << 20;
      const rounds = context.quick ? 2 : 5;
      const proxied: number[] = [];
      const direct: number[] = [];
      for (let i = 0; i < rounds; i++) {
        context.log(`network: ${bytes >> 20} MiB through the userland proxy, then direct (round ${i + 1}/${rounds})`);
        proxied.push(await push("127.0.0.1", sink.hostPort, bytes));
        direct.push(await push(sink.ip, 5001, bytes));
      }
      const p = summarize(proxied);
      const d = summarize(direct);
      const figures: Figure[] = [
        { name: "published port 127.0.0.1 → container (userland proxy)", unit: "MB/s", better: "higher", bunker: p, note: `${(p.median / d.median).toFixed(2)}x of direct` },
        { name: "host → container address over the bridge (direct)", unit: "MB/s", better: "higher", bunker: d },
      ];
      return figures;
    } finally {
      await api(bunker, "DELETE", `/containers/${sink.id}?force=1`).catch(() => {});
    }
  },
};
