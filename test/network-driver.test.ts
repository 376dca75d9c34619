/**
 * The network driver against the real kernel. Everything runs inside network namespaces created here: a
 * "lab" namespace plays the host (bridge, host veth ends, firewall rules, ip_forward) and "container"
 * namespaces play containers. Only loopback and these namespaces ever see traffic; afterAll deletes every
 * namespace (which takes their links and rules along) and ends the processes started here, by PID.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { Subprocess } from "bun";
import { close, open, O } from "../drivers/libc/libc";
import { Netlink, NetlinkError } from "../drivers/network/netlink";
import { inNetns } from "../drivers/network/netns";
import { formatIpv4, parseCidr, parseIpv4 } from "../drivers/network/ipv4";
import {
  allocateAddress, describePool, IpamError, MemoryIpamStore, parsePool, pickSubnet, releaseAddress, reserveGateway, checkSubnetFree,
} from "../drivers/network/ipam";
import { ephemeralPortRange, fromPortBindings, parsePortSpec, PortAllocatedError, PortAllocator, toPortBindings } from "../drivers/network/portmap";
import { startProxy } from "../drivers/network/proxy";
import { BridgeDriver, bridgeNetworkRules, setupLoopbackOnly } from "../drivers/network/bridge";
import { PortPublisher, publishRules } from "../drivers/network/publish";
import { chooseFirewall, createFirewall, detectFirewall, ruleComment, type FirewallKind, type FirewallRule, type Protocol } from "../drivers/network/firewall";
import { netHost } from "../drivers/network/host";
import { hostUpstreams, startDnsServer } from "../drivers/network/dns";
import { dnsAnswers, dnsQuery, dnsReplyA } from "./helpers/dns-wire";
import { SETTLE_TIMEOUT_MS, settle } from "./helpers/wait";

const RUN = Math.random().toString(16).slice(2, 8);
const NS = {
  lab: `bunker-test-${RUN}-lab`,
  c1: `bunker-test-${RUN}-c1`,
  c2: `bunker-test-${RUN}-c2`,
  c3: `bunker-test-${RUN}-c3`,
  c4: `bunker-test-${RUN}-c4`,
  /** "The outside world": linked to the lab only, with no route back to any container subnet. */
  out: `bunker-test-${RUN}-out`,
};
const nsPath = (name: string) => `/run/netns/${name}`;
const BRIDGE = `bkt${RUN}`;
// A /24 in 10.200-250.x.0 picked per run; none of it is routed on the real host.
const NET = `10.${200 + Math.floor(Math.random() * 51)}.${Math.floor(Math.random() * 256)}`;
const SUBNET = `${NET}.0/24`;
const GATEWAY = `${NET}.1`;
const C1_IP = `${NET}.2`;
const C2_IP = `${NET}.3`;
// Two more /24s next to it (a second, internal bridge network, and the lab's link to "outside").
const NET2 = `${NET.split(".").slice(0, 2).join(".")}.${(Number(NET.split(".")[2]) + 1) % 256}`;
const NET_OUT = `${NET.split(".").slice(0, 2).join(".")}.${(Number(NET.split(".")[2]) + 2) % 256}`;
const BRIDGE2 = `bkt${RUN}i`;
const OUT_IP = `${NET_OUT}.2`;

const started: Subprocess[] = [];
const lab = netHost(nsPath(NS.lab));

/** Run a command to its end (killed after `timeoutMs`: a safety net, not a limit commands are expected to meet). */
async function run(argv: string[], timeoutMs = SETTLE_TIMEOUT_MS): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

function runSync(argv: string[]): string {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const inNs = (ns: string, ...argv: string[]) => ["ip", "netns", "exec", ns, ...argv];

/** A long-running process inside a namespace, ended in afterAll by PID if the test did not. */
function spawnIn(ns: string, ...argv: string[]): Subprocess {
  const proc = Bun.spawn(inNs(ns, ...argv), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  started.push(proc);
  return proc;
}

/** Wait until something listens on the TCP port inside `ns` (busybox nc has no readiness signal). */
async function waitListening(ns: string, port: number): Promise<void> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  // busybox listens dual-stack, so the socket shows up in tcp6.
  const listening = async () =>
    (await run(inNs(ns, "cat", "/proc/net/tcp", "/proc/net/tcp6"))).stdout.split("\n").some((l) => / [0-9A-F]+:([0-9A-F]{4}) [0-9A-F]+:0000 0A /.exec(l)?.[1] === hex);
  if (!(await settle(listening))) throw new Error(`nothing listens on ${port} in ${ns}`);
}

beforeAll(() => {
  for (const ns of Object.values(NS)) runSync(["ip", "netns", "add", ns]);
  runSync(inNs(NS.lab, "ip", "link", "set", "lo", "up"));
  // A new namespace inherits ip_forward from the host's; the lab starts from a known "off".
  lab.writeSysctl("net.ipv4.ip_forward", "0");
});

afterAll(async () => {
  for (const proc of started) if (proc.exitCode === null) proc.kill();
  await Promise.all(started.map((p) => p.exited));
  for (const ns of Object.values(NS)) Bun.spawnSync(["ip", "netns", "del", ns]);
  // Nothing of this run may survive on the real host either.
  expect(runSync(["ip", "-o", "link"]).includes(BRIDGE)).toBe(false);
  expect(runSync(["ip", "netns", "list"]).includes(`bunker-test-${RUN}`)).toBe(false);
});

describe("ipam", () => {
  test("validates subnet, range and gateway", () => {
    const pool = parsePool({ subnet: "10.210.0.0/16", ipRange: "10.210.5.0/24" });
    expect(formatIpv4(pool.gateway)).toBe("10.210.0.1");
    expect(describePool(pool)).toEqual({ Subnet: "10.210.0.0/16", IPRange: "10.210.5.0/24", Gateway: "10.210.0.1" });
    expect(describePool(parsePool({ subnet: "10.210.0.0/16" }))).toEqual({ Subnet: "10.210.0.0/16", Gateway: "10.210.0.1" });
    expect(() => parsePool({ subnet: "10.210.0.5/16" })).toThrow("it should be 10.210.0.0/16");
    expect(() => parsePool({ subnet: "10.210.0.0/33" })).toThrow(IpamError);
    expect(() => parsePool({ subnet: "10.210.0.0/16", ipRange: "10.211.0.0/24" })).toThrow("not within subnet");
    expect(() => parsePool({ subnet: "10.210.0.0/16", gateway: "10.9.0.1" })).toThrow("no matching subnet for gateway");
    expect(() => parsePool({ subnet: "10.210.0.0/16", gateway: "10.210.255.255" })).toThrow(IpamError);
    expect(formatIpv4(parsePool({ subnet: "10.210.0.0/16", gateway: "10.210.0.254" }).gateway)).toBe("10.210.0.254");
  });

  test("hands out the range in order, honours static --ip, never the gateway", () => {
    const store = new MemoryIpamStore();
    const pool = parsePool({ subnet: "10.210.0.0/24", ipRange: "10.210.0.0/30" });
    reserveGateway(store, "n", pool);
    expect(allocateAddress(store, "n", pool, "a")).toBe("10.210.0.2");
    // Static addresses may lie outside --ip-range (Docker allows it), not outside the subnet.
    expect(allocateAddress(store, "n", pool, "b", "10.210.0.77")).toBe("10.210.0.77");
    expect(() => allocateAddress(store, "n", pool, "c", "10.210.0.77")).toThrow("Address already in use");
    expect(() => allocateAddress(store, "n", pool, "c", "10.210.0.1")).toThrow("Address already in use");
    expect(() => allocateAddress(store, "n", pool, "c", "10.210.1.7")).toThrow("does not belong");
    expect(() => allocateAddress(store, "n", pool, "c", "10.210.0.0")).toThrow(IpamError);
    // The /30 range holds .0-.3: .0 is the network address, .1 the gateway, .2 taken: only .3 is left.
    expect(allocateAddress(store, "n", pool, "c")).toBe("10.210.0.3");
    expect(() => allocateAddress(store, "n", pool, "d")).toThrow(expect.objectContaining({ kind: "exhausted" }));
    releaseAddress(store, "n", "10.210.0.2");
    expect(allocateAddress(store, "n", pool, "d")).toBe("10.210.0.2");
  });

  test("20 concurrent allocations get 20 distinct addresses", async () => {
    const store = new MemoryIpamStore();
    const pool = parsePool({ subnet: "10.210.8.0/27" });
    reserveGateway(store, "n", pool);
    const ips = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await Bun.sleep(Math.random() * 5);
        return allocateAddress(store, "n", pool, `ctr${i}`);
      }),
    );
    expect(new Set(ips).size).toBe(20);
    expect(ips).not.toContain("10.210.8.1");
    expect(store.reserved("n").size).toBe(21);
  });

  test("picks a free subnet from the default pools, skipping networks and routes in use", () => {
    expect(pickSubnet([])).toEqual(parseCidr("172.17.0.0/16"));
    expect(pickSubnet([parseCidr("172.17.0.0/16"), parseCidr("172.18.5.0/24")])).toEqual(parseCidr("172.19.0.0/16"));
    const all172 = Array.from({ length: 15 }, (_, i) => parseCidr(`172.${17 + i}.0.0/16`));
    expect(pickSubnet([...all172, parseCidr("192.168.1.0/24")])).toEqual(parseCidr("192.168.16.0/20"));
    expect(() => pickSubnet([parseCidr("172.16.0.0/12"), parseCidr("192.168.0.0/16")])).toThrow(IpamError);
    expect(() => checkSubnetFree(parseCidr("172.18.0.0/16"), [parseCidr("172.18.3.0/24")])).toThrow("overlaps");
  });
});

describe("port specs", () => {
  test("parses every docker -p form", () => {
    const m = (containerPort: number, hostIp: string, hostPort: string, proto: Protocol = "tcp") => ({ containerPort, proto, hostIp, hostPort });
    expect(parsePortSpec("80")).toEqual([m(80, "", "")]);
    expect(parsePortSpec(":80")).toEqual([m(80, "", "")]);
    expect(parsePortSpec("8080:80")).toEqual([m(80, "", "8080")]);
    expect(parsePortSpec("127.0.0.1:8080:80")).toEqual([m(80, "127.0.0.1", "8080")]);
    expect(parsePortSpec("127.0.0.1::80")).toEqual([m(80, "127.0.0.1", "")]);
    expect(parsePortSpec("8000-8001:80-81")).toEqual([m(80, "", "8000"), m(81, "", "8001")]);
    expect(parsePortSpec("8000-8010:80")).toEqual([m(80, "", "8000-8010")]);
    expect(parsePortSpec("80/udp")).toEqual([m(80, "", "", "udp")]);
    expect(parsePortSpec("0.0.0.0:53:53/udp")).toEqual([m(53, "0.0.0.0", "53", "udp")]);
    for (const bad of ["", "8000-8002:80-81", "80/icmp", "70000", "1.2.3:80:80", "a:b:c:d", "0", "[::1]:80:80"]) {
      expect(() => parsePortSpec(bad)).toThrow();
    }
  });

  test("round-trips through the API's PortBindings", () => {
    const mappings = [...parsePortSpec("127.0.0.1:8080:80"), ...parsePortSpec("81"), ...parsePortSpec("53:53/udp")];
    const bindings = toPortBindings(mappings);
    expect(bindings).toEqual({
      "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }],
      "81/tcp": [{ HostIp: "", HostPort: "" }],
      "53/udp": [{ HostIp: "", HostPort: "53" }],
    });
    expect(fromPortBindings(bindings)).toEqual(mappings);
  });
});

describe("netns and netlink", () => {
  test("inNetns switches back, even when the callback throws, and refuses async callbacks", () => {
    const home = readlinkSync("/proc/thread-self/ns/net");
    const inside = inNetns(nsPath(NS.lab), () => readlinkSync("/proc/thread-self/ns/net"));
    expect(inside).not.toBe(home);
    expect(() => inNetns(nsPath(NS.lab), () => { throw new Error("boom"); })).toThrow("boom");
    expect(() => inNetns(nsPath(NS.lab), async () => 1)).toThrow("synchronous");
    expect(readlinkSync("/proc/thread-self/ns/net")).toBe(home);
  });

  test("links: veth pair, rename, MTU, down/up, list, delete", () => {
    const nl = Netlink.openIn(nsPath(NS.lab));
    const a = `bka${RUN}`;
    try {
      nl.createVeth({ name: a, mtu: 1400, peer: { name: `bkb${RUN}` } });
      nl.rename(`bkb${RUN}`, `bkc${RUN}`);
      nl.setMtu(`bkc${RUN}`, 1300);
      nl.setUp(a);
      expect(nl.getLink(a)).toMatchObject({ kind: "veth", mtu: 1400, up: true });
      nl.setDown(a);
      expect(nl.getLink(a)?.up).toBe(false);
      const listed = nl.listLinks().filter((l) => l.name.endsWith(RUN) && l.name.startsWith("bk"));
      expect(listed.map((l) => [l.name, l.mtu])).toContainEqual([`bkc${RUN}`, 1300]);
      expect(nl.getLink(`bkb${RUN}`)).toBeNull();
      nl.deleteLink(a);
      expect(nl.getLink(`bkc${RUN}`)).toBeNull(); // deleting one end deletes its peer
    } finally {
      nl.close();
    }
  });

  test("typed errors carry the kernel's errno", () => {
    const nl = Netlink.openIn(nsPath(NS.lab));
    try {
      expect(nl.getLink("nosuchlink0")).toBeNull();
      expect(() => nl.deleteLink("nosuchlink0")).toThrow(expect.objectContaining({ code: "ENODEV" }));
      let err: unknown;
      try {
        nl.createBridge("lo");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetlinkError);
      expect((err as NetlinkError).errno).toBe(17);
    } finally {
      nl.close();
    }
  });
});

describe("bridge network", () => {
  let driver: BridgeDriver;
  let c2Fd = -1;

  beforeAll(() => {
    driver = new BridgeDriver(nsPath(NS.lab));
    driver.ensureBridge(BRIDGE2, `${NET2}.1/24`);
    driver.connectContainer({ netns: nsPath(NS.c4), bridge: BRIDGE2, ip: `${NET2}.2`, prefix: 24, gateway: `${NET2}.1` });
    const nl = Netlink.openIn(nsPath(NS.lab));
    const outside = Netlink.openIn(nsPath(NS.out));
    try {
      nl.createVeth({ name: `up${RUN}`, peer: { name: "eth0", netns: nsPath(NS.out) } });
      nl.addAddress(`up${RUN}`, parseIpv4(`${NET_OUT}.1`), 24);
      nl.setUp(`up${RUN}`);
      outside.addAddress("eth0", parseIpv4(OUT_IP), 24);
      outside.setUp("eth0");
    } finally {
      nl.close();
      outside.close();
    }
  });
  afterAll(() => {
    if (c2Fd >= 0) close(c2Fd);
    driver.close();
  });

  test("bridge + two containers: addresses, MACs, routes, ping each other and the gateway", async () => {
    const br = driver.ensureBridge(BRIDGE, `${GATEWAY}/24`, 1450);
    expect(br).toMatchObject({ name: BRIDGE, kind: "bridge", up: true, mtu: 1450 });
    // Idempotent: a second call changes nothing and does not fail.
    expect(driver.ensureBridge(BRIDGE, `${GATEWAY}/24`, 1450).index).toBe(br.index);

    const e1 = driver.connectContainer({ netns: nsPath(NS.c1), bridge: BRIDGE, ip: C1_IP, prefix: 24, gateway: GATEWAY, mtu: 1450 });
    c2Fd = open(nsPath(NS.c2), O.RDONLY | O.CLOEXEC); // the fd form of NetnsRef
    const e2 = driver.connectContainer({ netns: c2Fd, bridge: BRIDGE, ip: C2_IP, prefix: 24, gateway: GATEWAY, mtu: 1450 });
    expect(e1.hostIfname).toMatch(/^veth[0-9a-f]{7}$/);
    expect(e1.mac).toBe(`02:42:${C1_IP.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join(":")}`);

    const addr = runSync(inNs(NS.c1, "ip", "-o", "addr", "show", "eth0"));
    expect(addr).toContain(`inet ${C1_IP}/24`);
    expect(runSync(inNs(NS.c1, "ip", "link", "show", "eth0"))).toContain(`link/ether ${e1.mac}`);
    expect(runSync(inNs(NS.c1, "ip", "route"))).toContain(`default via ${GATEWAY} dev eth0`);
    expect(runSync(inNs(NS.c1, "ip", "link", "show", "lo"))).toContain("UP");
    const port = runSync(inNs(NS.lab, "ip", "-o", "link", "show", e2.hostIfname));
    expect(port).toContain(`master ${BRIDGE}`);
    // The container end never existed in the lab namespace.
    const labLinks = Netlink.openIn(nsPath(NS.lab));
    expect(labLinks.getLink("eth0")).toBeNull();
    labLinks.close();

    for (const [ns, target] of [[NS.c1, C2_IP], [NS.c2, C1_IP], [NS.c1, GATEWAY]] as const) {
      const ping = await run(inNs(ns, "busybox", "ping", "-c1", "-W2", target));
      expect(ping.stdout).toContain("1 packets received");
    }
  });

  test("a failed connect (second default route) leaves no veth behind", () => {
    const before = runSync(inNs(NS.lab, "ip", "-o", "link")).split("\n").length;
    expect(() => driver.connectContainer({ netns: nsPath(NS.c1), bridge: BRIDGE, ip: C1_IP, prefix: 24, gateway: GATEWAY, ifname: "eth1" })).toThrow();
    expect(runSync(inNs(NS.lab, "ip", "-o", "link")).split("\n").length).toBe(before);
    expect(runSync(inNs(NS.c1, "ip", "-o", "link")).includes("eth1")).toBe(false);
  });

  test("network none: only lo, and up", () => {
    setupLoopbackOnly(nsPath(NS.c3));
    const links = runSync(inNs(NS.c3, "ip", "-o", "link"));
    expect(links.trim().split("\n")).toHaveLength(1);
    expect(links).toContain("lo: <LOOPBACK,UP,LOWER_UP>");
  });

  test("routedSubnets sees the bridge's subnet, so pickSubnet avoids it", () => {
    const routed = driver.routedSubnets();
    expect(routed).toContainEqual(parseCidr(SUBNET));
    expect(pickSubnet(routed, [{ base: SUBNET, size: 24 }, { base: "192.168.255.0/24", size: 24 }])).toEqual(parseCidr("192.168.255.0/24"));
  });

  test("disconnect removes both ends; removeBridge removes the bridge; both tolerate missing links", () => {
    const ep = driver.connectContainer({ netns: nsPath(NS.c3), bridge: BRIDGE, ip: `${NET}.9`, prefix: 24, gateway: GATEWAY });
    driver.disconnect(ep.hostIfname);
    driver.disconnect(ep.hostIfname);
    expect(runSync(inNs(NS.c3, "ip", "-o", "link")).includes("eth0")).toBe(false);
    driver.removeBridge(`bkx${RUN}`);
  });

  for (const kind of ["nftables", "iptables-nft", "iptables-legacy"] as const satisfies FirewallKind[]) {
    describe(kind, () => {
      const fw = createFirewall(kind, lab);
      const network = bridgeNetworkRules({ id: `net${RUN}`, bridge: BRIDGE, subnet: SUBNET });
      const net2 = (internal: boolean) => bridgeNetworkRules({ id: `net2${RUN}`, bridge: BRIDGE2, subnet: `${NET2}.0/24`, internal });
      const pings = (...pairs: [ns: string, target: string][]) =>
        Promise.all(pairs.map(async ([ns, target]) => (await run(inNs(ns, "busybox", "ping", "-c1", "-W1", target))).stdout.includes("1 packets received")));

      test("masquerade lets containers out, bridges are isolated, --internal keeps a network in", async () => {
        // Before any rule: no forwarding, and "outside" could not answer a container address anyway.
        expect(await pings([NS.c1, OUT_IP])).toEqual([false]);
        await fw.add([...network, ...net2(false)]);
        expect(await pings([NS.c1, OUT_IP], [NS.c4, OUT_IP], [NS.c4, C1_IP], [NS.c1, `${NET2}.2`])).toEqual([true, true, false, false]);
        await fw.reconcile([...network, ...net2(true)]);
        expect(await pings([NS.c4, `${NET2}.1`], [NS.c4, OUT_IP], [NS.c1, OUT_IP])).toEqual([true, false, true]);
        await fw.removeOwner(`net2${RUN}`);
      }, 60_000);

      afterAll(async () => {
        await fw.cleanup();
      });

      test("publishes a port by DNAT: the host reaches a server in the container via the bridge address", async () => {
        await fw.add(network);
        const server = spawnIn(NS.c1, "busybox", "nc", "-ll", "-p", "80", "-e", "/bin/echo", `hello-from-c1-${kind}`);
        await waitListening(NS.c1, 80);
        try {
          const publisher = new PortPublisher(fw, new PortAllocator({ netns: nsPath(NS.lab) }), false);
          const ports = await publisher.publish({ owner: `ctr1${RUN}`, bridge: BRIDGE, containerIp: C1_IP, mappings: parsePortSpec("8080:80") });
          expect(ports).toEqual([{ proto: "tcp", hostIp: "", hostPort: 8080, containerPort: 80 }]);
          const reply = await run(inNs(NS.lab, "busybox", "nc", "-w", "3", GATEWAY, "8080"));
          expect(reply.stdout.trim()).toBe(`hello-from-c1-${kind}`);
          expect(lab.readSysctl("net.ipv4.ip_forward")).toBe("1");

          await publisher.unpublish(`ctr1${RUN}`);
          const after = await run(inNs(NS.lab, "busybox", "nc", "-w", "1", GATEWAY, "8080"));
          expect(after.stdout).not.toContain("hello-from-c1");
        } finally {
          server.kill();
          await server.exited;
        }
      }, 60_000);

      test("reconcile removes stale rules, adds missing ones, never duplicates", async () => {
        const live = publishRules(`ctr2${RUN}`, BRIDGE, C2_IP, [{ proto: "tcp", hostIp: "", hostPort: 9090, containerPort: 90 }]);
        const stale = publishRules(`gone${RUN}`, BRIDGE, C1_IP, [{ proto: "udp", hostIp: "", hostPort: 5353, containerPort: 53 }]);
        await fw.add([...network, ...live, ...stale]);
        await fw.add(live); // adding again is a no-op
        const expected: FirewallRule[] = [...network, ...live];
        const internal = bridgeNetworkRules({ id: `int${RUN}`, bridge: `bki${RUN}`, subnet: `${NET}.0/24`, internal: true });

        expect(await fw.reconcile([...expected, ...internal])).toEqual({ added: internal.length, removed: stale.length });
        expect(await fw.reconcile(expected)).toEqual({ added: 0, removed: internal.length });
        expect(await fw.reconcile(expected)).toEqual({ added: 0, removed: 0 });
        expect([...(await fw.installed())].sort()).toEqual(expected.map(ruleComment).sort());

        // Count the kernel rules themselves: each comment appears exactly as often as the rule renders.
        const dump = await dumpRules(kind);
        const perRule = (r: FirewallRule) => dump.split(ruleComment(r)).length - 1;
        for (const r of expected) expect(perRule(r)).toBeGreaterThan(0);
        const once = expected.map(perRule);
        await fw.reconcile(expected);
        expect(expected.map(perRule)).toEqual(once);
        expect((await dumpRules(kind)).includes(`gone${RUN}`)).toBe(false);

        await fw.removeOwner(`ctr2${RUN}`);
        expect([...(await fw.installed())].some((c) => c.includes(`ctr2${RUN}`))).toBe(false);
      });

      test("cleanup leaves nothing of ours and restores ip_forward", async () => {
        await fw.cleanup();
        expect(await dumpRules(kind)).not.toMatch(/bunker|BUNKER/);
        expect((await run(inNs(NS.lab, "nft", "list", "ruleset"))).stdout).not.toMatch(/bunker|BUNKER/);
        expect(lab.readSysctl("net.ipv4.ip_forward")).toBe("0");
      });
    });
  }

  async function dumpRules(kind: FirewallKind): Promise<string> {
    const argv = kind === "nftables" ? ["nft", "list", "ruleset"] : [kind === "iptables-nft" ? "iptables-nft-save" : "iptables-legacy-save"];
    return (await run(inNs(NS.lab, ...argv))).stdout;
  }

  test("userland proxy inside the lab forwards 127.0.0.1 to the container", async () => {
    const server = spawnIn(NS.c2, "busybox", "nc", "-ll", "-p", "81", "-e", "/bin/echo", "hello-from-c2");
    await waitListening(NS.c2, 81);
    const proxy = spawnIn(NS.lab, process.execPath, `${import.meta.dir}/helpers/netns-proxy.ts`, "tcp", "127.0.0.1", C2_IP, "81");
    try {
      const reader = (proxy.stdout as ReadableStream<Uint8Array>).getReader();
      const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
      expect(port).toBeGreaterThan(0);
      const reply = await run(inNs(NS.lab, "busybox", "nc", "-w", "3", "127.0.0.1", String(port)));
      expect(reply.stdout.trim()).toBe("hello-from-c2");
    } finally {
      proxy.kill();
      server.kill();
      await Promise.all([proxy.exited, server.exited]);
    }
  }, 60_000);
});

describe("userland proxy on loopback", () => {
  test("forwards both ways and propagates half-close in each direction", async () => {
    // The server answers only after the client half-closed, then half-closes itself.
    const server = Bun.listen<{ got: string }>({
      hostname: "127.0.0.1",
      port: 0,
      allowHalfOpen: true,
      socket: {
        open(s) {
          s.data = { got: "" };
        },
        data(s, d) {
          s.data.got += d.toString();
        },
        end(s) {
          setTimeout(() => {
            s.write(`echo:${s.data.got}`);
            s.shutdown();
          }, 100);
        },
      },
    });
    const proxy = await startProxy({ proto: "tcp", hostIp: "127.0.0.1", hostPort: 0, targetIp: "127.0.0.1", targetPort: server.port });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        let got = "";
        void Bun.connect({
          hostname: "127.0.0.1",
          port: proxy.port,
          allowHalfOpen: true,
          socket: {
            open(s) {
              s.write("hello");
              s.shutdown();
            },
            data(_s, d) {
              got += d.toString();
            },
            // Bun reports the peer's FIN as `close` once our own side is shut as well.
            end: () => resolve(got),
            close: () => resolve(got),
            error: (_s, e) => reject(e),
          },
        });
      });
      expect(reply).toBe("echo:hello");
    } finally {
      proxy.close();
      server.stop(true);
    }
  });

  test("relays a large stream with backpressure", async () => {
    const total = 32 * 1024 * 1024;
    const sink = Bun.listen<{ n: number }>({
      hostname: "127.0.0.1",
      port: 0,
      allowHalfOpen: true,
      socket: {
        open: (s) => void (s.data = { n: 0 }),
        data: (s, d) => void (s.data.n += d.length),
        end: (s) => void s.end(String(s.data.n)),
      },
    });
    const proxy = await startProxy({ proto: "tcp", hostIp: "127.0.0.1", hostPort: 0, targetIp: "127.0.0.1", targetPort: sink.port });
    try {
      const counted = await new Promise<string>((resolve) => {
        const chunk = new Uint8Array(1 << 20);
        let sent = 0;
        let reply = "";
        const pump = (s: { write(b: Uint8Array): number; shutdown(): void }) => {
          while (sent < total) {
            const n = s.write(chunk.subarray(0, Math.min(chunk.length, total - sent)));
            if (n <= 0) return;
            sent += n;
          }
          s.shutdown();
        };
        void Bun.connect({
          hostname: "127.0.0.1",
          port: proxy.port,
          allowHalfOpen: true,
          socket: { open: pump, drain: pump, data: (_s, d) => void (reply += d.toString()), end: () => resolve(reply), close: () => resolve(reply) },
        });
      });
      expect(Number(counted)).toBe(total);
    } finally {
      proxy.close();
      sink.stop(true);
    }
  }, 60_000);

  test("relays UDP datagrams and their replies", async () => {
    const echo = await Bun.udpSocket({ hostname: "127.0.0.1", port: 0, socket: { data: (s, d, port, addr) => void s.send(`re:${d.toString()}`, port, addr) } });
    const proxy = await startProxy({ proto: "udp", hostIp: "127.0.0.1", hostPort: 0, targetIp: "127.0.0.1", targetPort: echo.port });
    try {
      let resolveReply!: (s: string) => void;
      const reply = new Promise<string>((r) => (resolveReply = r));
      const client = await Bun.udpSocket({ hostname: "127.0.0.1", socket: { data: (_s, d) => resolveReply(d.toString()) } });
      client.send("ping", proxy.port, "127.0.0.1");
      expect(await reply).toBe("re:ping");
      client.close();
    } finally {
      proxy.close();
      echo.close();
    }
  });
});

describe("port allocation", () => {
  test("a port taken by another process or by us fails with Docker's message", async () => {
    // The blocking listener lives in the lab namespace: Bun.listen binds synchronously on the JS thread.
    const squatter = inNetns(nsPath(NS.lab), () => Bun.listen({ hostname: "0.0.0.0", port: 0, socket: { data() {} } }));
    try {
      const allocator = new PortAllocator({ netns: nsPath(NS.lab) });
      const taken = String(squatter.port);
      expect(() => allocator.allocate("a", { containerPort: 80, proto: "tcp", hostIp: "", hostPort: taken })).toThrow(
        new PortAllocatedError("", squatter.port, "tcp"),
      );
      expect(() => allocator.allocate("a", { containerPort: 80, proto: "tcp", hostIp: "", hostPort: taken })).toThrow(
        `Bind for 0.0.0.0:${taken} failed: port is already allocated`,
      );
      // UDP on the same number is a different port.
      expect(allocator.allocate("a", { containerPort: 80, proto: "udp", hostIp: "", hostPort: taken }).hostPort).toBe(squatter.port);

      const mine = allocator.allocate("b", { containerPort: 80, proto: "tcp", hostIp: "127.0.0.1", hostPort: "" });
      expect(() => allocator.allocate("c", { containerPort: 80, proto: "tcp", hostIp: "", hostPort: String(mine.hostPort) })).toThrow(
        `Bind for 0.0.0.0:${mine.hostPort} failed: port is already allocated`,
      );
      allocator.release("b");
      expect(allocator.allocate("c", { containerPort: 80, proto: "tcp", hostIp: "", hostPort: String(mine.hostPort) }).hostPort).toBe(mine.hostPort);

      // Random ports come from the ephemeral range and are distinct.
      const random = Array.from({ length: 10 }, (_, i) => allocator.allocate(`r${i}`, { containerPort: 80, proto: "tcp", hostIp: "", hostPort: "" }).hostPort);
      expect(new Set(random).size).toBe(10);
      const [lo, hi] = ephemeralPortRange();
      for (const p of random) expect(p >= lo && p <= hi).toBe(true);
    } finally {
      squatter.stop(true);
    }
  });

  test("the proxy reports a taken port the same way", async () => {
    const squatter = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      await expect(startProxy({ proto: "tcp", hostIp: "127.0.0.1", hostPort: squatter.port, targetIp: "127.0.0.1", targetPort: 1 })).rejects.toThrow(
        `Bind for 127.0.0.1:${squatter.port} failed: port is already allocated`,
      );
    } finally {
      squatter.stop(true);
    }
  });
});

describe("firewall detection", () => {
  test("follows the backend the host's rules use, else nftables", async () => {
    const probe = { nft: true, iptablesNft: true, iptablesLegacy: true, nftIptablesRules: 0, legacyRules: 0, iptablesDefault: "nft" as const };
    expect(chooseFirewall(probe)).toBe("nftables");
    expect(chooseFirewall({ ...probe, legacyRules: 3 })).toBe("iptables-legacy");
    expect(chooseFirewall({ ...probe, nftIptablesRules: 5, legacyRules: 3 })).toBe("iptables-nft");
    expect(chooseFirewall({ ...probe, nft: false })).toBe("iptables-nft");
    expect(chooseFirewall(probe, { prefer: "iptables" })).toBe("iptables-nft");
    expect(chooseFirewall({ ...probe, iptablesDefault: "legacy" }, { prefer: "iptables" })).toBe("iptables-legacy");
    expect(() => chooseFirewall({ ...probe, nft: false }, { prefer: "nftables" })).toThrow();

    // For real, in a namespace of its own: empty → nftables; a legacy rule → iptables-legacy.
    const host = netHost(nsPath(NS.c3));
    expect((await detectFirewall(host)).kind).toBe("nftables");
    runSync(inNs(NS.c3, "iptables-legacy", "-A", "INPUT", "-s", "10.255.255.254", "-j", "DROP"));
    expect((await detectFirewall(host)).kind).toBe("iptables-legacy");
    runSync(inNs(NS.c3, "iptables-legacy", "-D", "INPUT", "-s", "10.255.255.254", "-j", "DROP"));
    runSync(inNs(NS.c3, "iptables-nft", "-A", "INPUT", "-s", "10.255.255.254", "-j", "DROP"));
    expect((await detectFirewall(host)).kind).toBe("iptables-nft");
  });
});

describe("embedded DNS", () => {
  async function ask(port: number, packet: Uint8Array): Promise<Uint8Array> {
    let resolveReply!: (r: Uint8Array) => void;
    const reply = new Promise<Uint8Array>((r) => (resolveReply = r));
    const client = await Bun.udpSocket({ hostname: "127.0.0.1", binaryType: "uint8array", socket: { data: (_s, d) => resolveReply(d.slice()) } });
    try {
      client.send(packet, port, "127.0.0.1");
      return await reply;
    } finally {
      client.close();
    }
  }

  test("answers container names, forwards the rest to the upstream, SERVFAIL when upstreams are silent", async () => {
    // The upstream is a resolver of our own on loopback; it never answers "silent.example".
    const upstream = await Bun.udpSocket({
      hostname: "127.0.0.1",
      binaryType: "uint8array",
      socket: {
        data(s, d, port, addr) {
          if (!new TextDecoder().decode(d).includes("silent")) s.send(dnsReplyA(d, "10.99.0.1"), port, addr);
        },
      },
    });
    // Nothing listens here: the first upstream fails and the next one is used.
    const dead = await Bun.udpSocket({ hostname: "127.0.0.1" });
    const deadPort = dead.port;
    dead.close();
    const names: Record<string, string[]> = { web: ["10.200.0.5"], "web.mynet": ["10.200.0.5"], db: ["10.200.0.6", "10.200.0.7"] };
    const dns = await startDnsServer({
      hostIp: "127.0.0.1",
      port: 0,
      lookup: (name) => names[name] ?? null,
      upstreams: [{ ip: "127.0.0.1", port: deadPort }, { ip: "127.0.0.1", port: upstream.port }],
      // The upstream answers from this very process: a loaded machine may hold its reply back a while.
      timeoutMs: 2000,
    });
    try {
      expect(dnsAnswers(await ask(dns.port, dnsQuery(1, "WEB")))).toEqual({ id: 1, rcode: 0, addresses: ["10.200.0.5"] });
      expect(dnsAnswers(await ask(dns.port, dnsQuery(2, "db")))).toEqual({ id: 2, rcode: 0, addresses: ["10.200.0.6", "10.200.0.7"] });
      expect(dnsAnswers(await ask(dns.port, dnsQuery(3, "web.mynet", 28)))).toEqual({ id: 3, rcode: 0, addresses: [] });
      expect(dnsAnswers(await ask(dns.port, dnsQuery(4, "example.org")))).toEqual({ id: 4, rcode: 0, addresses: ["10.99.0.1"] });
      expect(dnsAnswers(await ask(dns.port, dnsQuery(5, "silent.example")))).toEqual({ id: 5, rcode: 2, addresses: [] });
    } finally {
      dns.close();
      upstream.close();
    }
  });

  test("reads upstreams from resolv.conf, and systemd-resolved's real ones behind its stub", () => {
    const dir = mkdtempSync(`${tmpdir()}/bunker-dns-`);
    try {
      writeFileSync(`${dir}/plain`, "search lan\nnameserver 10.1.1.1\nnameserver ::1\n nameserver 10.1.1.2 # second\n");
      writeFileSync(`${dir}/stub`, "nameserver 127.0.0.53\noptions edns0\n");
      writeFileSync(`${dir}/systemd`, "nameserver 10.2.2.2\n");
      expect(hostUpstreams(`${dir}/plain`, `${dir}/systemd`)).toEqual([{ ip: "10.1.1.1", port: 53 }, { ip: "10.1.1.2", port: 53 }]);
      expect(hostUpstreams(`${dir}/stub`, `${dir}/systemd`)).toEqual([{ ip: "10.2.2.2", port: 53 }]);
      expect(hostUpstreams(`${dir}/missing`)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
