/**
 * Networking through the real docker CLI against a daemon with its own bridge: user networks with name
 * resolution, isolation, published ports, -P, runtime connect/disconnect, addresses under concurrency, DNS
 * forwarding to a resolver this test runs on 127.0.0.1, and nothing of ours left after removal or restart.
 * Traffic goes only to 127.0.0.1, this host's own address, and containers this test created.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import type { udp } from "bun";
import { dnsReplyA } from "./helpers/dns-wire";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { uniqueBridgeCidr } from "./helpers/daemon";
import { eventually, settle } from "./helpers/wait";

let e: ContainerEnv;
let upstream: udp.Socket<"uint8array">;
const upstreamQueries: string[] = [];

function run(cmd: string[]): string {
  return Bun.spawnSync(cmd).stdout.toString();
}

/** Our nft/iptables rules whose comment names `owner`. */
function rulesMentioning(owner: string): number {
  const text = run(["nft", "list", "ruleset"]) + run(["iptables-save"]) + run(["iptables-legacy-save"]);
  return text.split("\n").filter((l) => l.includes(owner)).length;
}

function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal && !a.address.startsWith("10.2")) return a.address;
  throw new Error("no non-loopback IPv4 address on this host");
}

beforeAll(async () => {
  // A resolver of our own on loopback: the engine forwards names it does not know here.
  upstream = await Bun.udpSocket({
    hostname: "127.0.0.1",
    binaryType: "uint8array",
    socket: {
      data(s, data, port, addr) {
        upstreamQueries.push(Buffer.from(data).toString("latin1"));
        s.send(dnsReplyA(data, "10.9.8.7"), port, addr);
      },
    },
  });
  e = await startContainerEnv({ bridge: true, args: ["--dns", `127.0.0.1:${upstream.port}`] });
}, 120_000);

afterAll(async () => {
  try {
    await stopContainerEnv(e);
  } finally {
    upstream?.close();
  }
}, 60_000);

const ipOf = async (name: string, network: string) =>
  (await e.docker(["inspect", "-f", `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name])).stdout.trim();

describe("user-defined networks", () => {
  test("containers reach each other by IP and by name; other networks are isolated", async () => {
    // A subnet no other engine on this host routes (test files run in parallel, each with its own engine).
    const subnet = uniqueBridgeCidr().replace(/\.1\/24$/, ".0/24");
    expect((await e.docker(["network", "create", "--subnet", subnet, "neta"])).exitCode).toBe(0);
    expect((await e.docker(["network", "create", "netb"])).exitCode).toBe(0);
    const srv = await e.docker(["run", "-d", "--name", "srv", "--network", "neta", "--network-alias", "web", e.busybox, "sh", "-c", "mkdir /www; echo hello-srv > /www/index.html; httpd -f -p 80 -h /www"]);
    expect(srv.exitCode).toBe(0);
    const ip = await ipOf("srv", "neta");
    expect(ip.replace(/\.\d+$/, ".0/24")).toBe(subnet);
    const get = (target: string, network: string) =>
      e.docker(["run", "--rm", "--network", network, e.busybox, "sh", "-c", `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target} 80 | tail -1`]);
    await eventually(async () => (await get(ip, "neta")).stdout.trim() === "hello-srv", "srv answering by IP");
    expect((await get("srv", "neta")).stdout.trim()).toBe("hello-srv");
    expect((await get("web", "neta")).stdout.trim()).toBe("hello-srv");
    // netb has its own bridge: srv's address is not reachable from there.
    const blocked = await get(ip, "netb");
    expect(blocked.stdout).not.toContain("hello-srv");
  }, 90_000);

  test("names the embedded DNS does not know are forwarded to the configured upstream", async () => {
    const r = await e.docker(["run", "--rm", "--network", "neta", e.busybox, "nslookup", "outside.example.test"]);
    expect(r.stdout).toContain("10.9.8.7");
    expect(upstreamQueries.some((q) => q.includes("outside"))).toBe(true);
  }, 30_000);

  test("connect and disconnect a running container", async () => {
    expect((await e.docker(["network", "connect", "netb", "srv"])).exitCode).toBe(0);
    const inNetb = await ipOf("srv", "netb");
    expect(inNetb).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const links = await e.docker(["exec", "srv", "ls", "/sys/class/net"]);
    expect(links.stdout.split("\n").filter(Boolean).sort()).toEqual(["eth0", "eth1", "lo"]);
    const viaB = await e.docker(["run", "--rm", "--network", "netb", e.busybox, "sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 srv 80 | tail -1"]);
    expect(viaB.stdout.trim()).toBe("hello-srv");
    expect((await e.docker(["network", "disconnect", "netb", "srv"])).exitCode).toBe(0);
    const after = await e.docker(["exec", "srv", "ls", "/sys/class/net"]);
    expect(after.stdout.split("\n").filter(Boolean).sort()).toEqual(["eth0", "lo"]);
  }, 60_000);

  test("a created container connected to a second network joins both when it starts; inspect shows them before", async () => {
    expect((await e.docker(["create", "--name", "late", "--network", "neta", e.busybox, "sleep", "60"])).exitCode).toBe(0);
    const connect = await e.docker(["network", "connect", "--alias", "latecomer", "netb", "late"]);
    expect(connect.exitCode, connect.stderr).toBe(0);
    const before = JSON.parse((await e.docker(["inspect", "late"])).stdout)[0].NetworkSettings.Networks;
    expect(Object.keys(before).sort()).toEqual(["neta", "netb"]);
    expect(before.netb.Aliases).toEqual(["latecomer"]);
    expect(before.neta.IPAddress).toBe("");
    expect((await e.docker(["network", "connect", "netb", "late"])).exitCode).not.toBe(0);
    expect((await e.docker(["start", "late"])).exitCode).toBe(0);
    const links = await e.docker(["exec", "late", "ls", "/sys/class/net"]);
    expect(links.stdout.split("\n").filter(Boolean).sort()).toEqual(["eth0", "eth1", "lo"]);
    expect(await ipOf("late", "netb")).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const byAlias = await e.docker(["run", "--rm", "--network", "netb", e.busybox, "nslookup", "latecomer"]);
    expect(byAlias.stdout).toContain(await ipOf("late", "netb"));
    expect((await e.docker(["rm", "-f", "late"])).exitCode).toBe(0);
  }, 60_000);

  test("removing a network in use is refused; after its containers go, nothing of it remains", async () => {
    const inspect = JSON.parse((await e.docker(["network", "inspect", "neta"])).stdout)[0];
    const bridge = `br-${(inspect.Id as string).slice(0, 12)}`;
    const owner = `net-${(inspect.Id as string).slice(0, 16)}`;
    const busy = await e.docker(["network", "rm", "neta"]);
    expect(busy.exitCode).not.toBe(0);
    expect(busy.stderr).toContain("active endpoints");
    expect((await e.docker(["rm", "-f", "srv"])).exitCode).toBe(0);
    expect((await e.docker(["network", "rm", "neta", "netb"])).exitCode).toBe(0);
    expect(run(["ip", "-o", "link"])).not.toContain(bridge);
    expect(rulesMentioning(owner)).toBe(0);
  }, 60_000);
});

describe("published ports", () => {
  test("-p answers on 127.0.0.1 and on the host's own address; -P picks free ports shown by docker port", async () => {
    const r = await e.docker(["run", "-d", "--name", "pub", "-p", "18080:80", "--expose", "81", "-P", e.busybox, "sh", "-c", "mkdir /www; echo published > /www/index.html; (httpd -p 81 -h /www &); httpd -f -p 80 -h /www"]);
    expect(r.exitCode).toBe(0);
    const id = r.stdout.trim();
    await eventually(async () => (await fetch("http://127.0.0.1:18080/index.html").then((x) => x.text(), () => "")) === "published\n", "port 18080 on 127.0.0.1");
    expect(await (await fetch(`http://${hostAddress()}:18080/index.html`)).text()).toBe("published\n");
    const port81 = (await e.docker(["port", "pub", "81"])).stdout.trim().split("\n")[0]!;
    const hostPort = Number(port81.split(":").pop());
    expect(hostPort).toBeGreaterThan(1024);
    expect(hostPort).not.toBe(18080);
    await eventually(async () => (await fetch(`http://127.0.0.1:${hostPort}/index.html`).then((x) => x.text(), () => "")) === "published\n", "the -P port");
    expect(rulesMentioning(id.slice(0, 12))).toBeGreaterThan(0);

    const clash = await e.docker(["run", "-d", "--name", "clash", "-p", "18080:80", e.busybox, "sleep", "30"]);
    expect(clash.exitCode).not.toBe(0);
    expect(clash.stderr).toContain("port is already allocated");
    await e.docker(["rm", "-f", "clash"]);

    expect((await e.docker(["rm", "-f", "pub"])).exitCode).toBe(0);
    expect(rulesMentioning(id.slice(0, 12))).toBe(0);
    expect(await fetch("http://127.0.0.1:18080/index.html").then(() => "open", () => "closed")).toBe("closed");
  }, 60_000);
});

describe("legacy links", () => {
  test("--link on the default bridge: hosts entry and docker's environment variables", async () => {
    expect((await e.docker(["run", "-d", "--name", "db", "-e", "SECRET=s3", "--expose", "5432", e.busybox, "sleep", "60"])).exitCode).toBe(0);
    const ip = await ipOf("db", "bridge");
    const r = await e.docker(["run", "--rm", "--name", "client", "--link", "db:dbalias", e.busybox, "sh", "-c", "env | grep ^DBALIAS_ | sort; grep dbalias /etc/hosts; ping -c1 -W2 dbalias >/dev/null && echo reachable"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("DBALIAS_NAME=/client/dbalias\n");
    expect(r.stdout).toContain(`DBALIAS_PORT=tcp://${ip}:5432\n`);
    expect(r.stdout).toContain(`DBALIAS_PORT_5432_TCP_ADDR=${ip}\n`);
    expect(r.stdout).toContain("DBALIAS_ENV_SECRET=s3\n");
    expect(r.stdout).toContain(`${ip}\tdbalias db\n`);
    expect(r.stdout).toContain("reachable\n");
    const stopped = await e.docker(["run", "--rm", "--link", "nosuch:x", e.busybox, "true"]);
    expect(stopped.exitCode).not.toBe(0);
    await e.docker(["rm", "-f", "db"]);
  }, 60_000);
});

describe("modes and addressing", () => {
  test("--network none has only lo; --network host sees the host's interfaces", async () => {
    expect((await e.docker(["run", "--rm", "--network", "none", e.busybox, "ls", "/sys/class/net"])).stdout).toBe("lo\n");
    const hostLinks = (await e.docker(["run", "--rm", "--network", "host", e.busybox, "ls", "/sys/class/net"])).stdout.split("\n").filter(Boolean);
    expect(hostLinks.some((l) => l.startsWith("bkt"))).toBe(true);
    expect(hostLinks.length).toBeGreaterThan(2);
  }, 30_000);

  test("20 containers created concurrently get 20 distinct addresses", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `par${i}`);
    const results = await Promise.all(names.map((n) => e.docker(["run", "-d", "--name", n, e.busybox, "sleep", "60"])));
    expect(results.every((r) => r.exitCode === 0)).toBe(true);
    const ips = await Promise.all(names.map((n) => ipOf(n, "bridge")));
    expect(new Set(ips).size).toBe(20);
    expect(ips.every((ip) => /^10\.2\d\d\.\d+\.\d+$/.test(ip))).toBe(true);
    expect((await e.docker(["rm", "-f", ...names])).exitCode).toBe(0);
    // Every endpoint is gone: no veth of ours is left enslaved to the bridge (the daemon retires them a moment
    // after the removal, see NetworkService.retireVeth).
    const bridge = JSON.parse((await e.docker(["network", "inspect", "bridge"])).stdout)[0].Options["com.docker.network.bridge.name"];
    await settle(() => run(["ip", "-o", "link", "show", "master", bridge]).trim() === "");
    expect(run(["ip", "-o", "link", "show", "master", bridge]).trim()).toBe("");
  }, 120_000);

  test("a daemon restart reconciles the bridge rules without duplicates", async () => {
    const bridge = JSON.parse((await e.docker(["network", "inspect", "bridge"])).stdout)[0];
    const owner = `net-${(bridge.Id as string).slice(0, 16)}`;
    const before = rulesMentioning(owner);
    expect(before).toBeGreaterThan(0);
    await e.daemon.stop();
    await e.daemon.restart();
    expect(rulesMentioning(owner)).toBe(before);
    const r = await e.docker(["run", "--rm", e.busybox, "sh", "-c", "ip -4 -o addr show eth0 | wc -l"]);
    expect(r.stdout.trim()).toBe("1");
  }, 60_000);
});
