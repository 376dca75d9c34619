/**
 * Containers on the network service (a daemon with its own bridge): the default bridge gives an address that
 * the container's /etc/hosts names, `-p` publishes a port on the host, `container:<name>` shares a namespace,
 * `host` and `none` behave like docker's.
 * Run: bun run build.ts && bun test test/containers-network.test.ts (as root)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually } from "./helpers/wait";
import { hostname } from "node:os";

let e: ContainerEnv;

beforeAll(async () => {
  e = await startContainerEnv({ bridge: true });
}, 120_000);

afterAll(() => stopContainerEnv(e), 60_000);

test("bridge, published port, container:, host and none", async () => {
  const r = await e.docker(["run", "--rm", "--hostname", "boxy", e.busybox, "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'; tail -1 /etc/hosts"]);
  const [cidr, hostsLine] = r.stdout.trim().split("\n");
  expect(cidr).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
  expect(hostsLine).toBe(`${cidr!.split("/")[0]}\tboxy`);

  await e.docker(["run", "-d", "--name", "web", "-p", "127.0.0.1::80", e.busybox, "sh", "-c", "echo served > /tmp/index.html; httpd -f -p 80 -h /tmp"]);
  const port = (await e.docker(["port", "web", "80"])).stdout.trim();
  expect(port).toMatch(/^127\.0\.0\.1:\d+$/);
  const ps = await e.docker(["ps", "--format", "{{.Ports}}", "-f", "name=web"]);
  expect(ps.stdout).toBe(`${port}->80/tcp\n`);
  let body = "";
  await eventually(async () => {
    body = await fetch(`http://${port}/index.html`).then((res) => res.text(), () => "");
    return body !== "";
  }, "the published port");
  expect(body).toBe("served\n");
  const webIp = JSON.parse((await e.docker(["inspect", "web"])).stdout)[0].NetworkSettings.IPAddress;
  const shared = await e.docker(["run", "--rm", "--network", "container:web", e.busybox, "sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'"]);
  expect(shared.stdout.split("/")[0]).toBe(webIp);
  await e.docker(["rm", "-f", "web"]);

  expect((await e.docker(["run", "--rm", "--network", "none", e.busybox, "ls", "/sys/class/net"])).stdout).toBe("lo\n");
  expect((await e.docker(["run", "--rm", "--network", "host", e.busybox, "hostname"])).stdout).toBe(`${hostname()}\n`);
  const unknown = await e.docker(["run", "--rm", "--network", "no-such-net", e.busybox, "true"]);
  expect(unknown.exitCode).toBe(125);
  expect(unknown.stderr).toContain("network no-such-net not found");
}, 60_000);
