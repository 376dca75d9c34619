/**
 * `GET /containers/json` against a daemon from dist/bunker: the list is served from memory (records and rendered
 * summaries), so it must follow every change — create, start, stop, rename, network connect and disconnect,
 * healthcheck verdicts, removal — and the clock (Status), come back the same after a daemon restart, and a long
 * list must go out with a Content-Length.
 * Run: bun run build.ts && bun test test/containers-list.test.ts (as root)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { uniqueBridgeCidr } from "./helpers/daemon";
import { rawConnect } from "./helpers/raw";
import { eventually } from "./helpers/wait";

interface Summary {
  Id: string;
  Names: string[];
  Image: string;
  Command: string;
  Labels: Record<string, string>;
  State: string;
  Status: string;
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
  SizeRw?: number;
  SizeRootFs?: number;
}

const NETWORK = "listnet";
let e: ContainerEnv;
let B: string;

beforeAll(async () => {
  // No default bridge (and so no --ephemeral, which removes containers at shutdown): the restart test needs them kept.
  e = await startContainerEnv();
  B = e.busybox;
  // A subnet no other engine on this host routes (test files run in parallel, each with its own engine).
  const subnet = uniqueBridgeCidr().replace(/\.1\/24$/, ".0/24");
  const created = await e.docker(["network", "create", "--subnet", subnet, NETWORK]);
  if (created.exitCode !== 0) throw new Error(`network create: ${created.stderr}`);
}, 120_000);

afterAll(async () => {
  try {
    const ids = (await e.docker(["ps", "-aq"])).stdout.split("\n").filter(Boolean);
    if (ids.length > 0) await e.docker(["rm", "-f", ...ids]);
    await e.docker(["network", "rm", NETWORK]);
  } finally {
    await stopContainerEnv(e);
  }
}, 60_000);

async function list(query = "all=1"): Promise<Summary[]> {
  const res = await e.api(`/v1.41/containers/json?${query}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Summary[];
}

async function entry(id: string): Promise<Summary | undefined> {
  return (await list()).find((c) => c.Id === id);
}

async function ok(args: string[]): Promise<string> {
  const r = await e.docker(args);
  if (r.exitCode !== 0) throw new Error(`docker ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

describe("the list follows every change", () => {
  test("create, start, network connect, rename, disconnect, stop, remove", async () => {
    const id = await ok(["create", "--name", "list-a", "--label", "tier=web", B, "sleep", "600"]);
    let c = await entry(id);
    expect(c).toMatchObject({ Names: ["/list-a"], Image: B, Command: "sleep 600", Labels: { tier: "web" }, State: "created", Status: "Created" });
    expect((await list("")).some((x) => x.Id === id)).toBe(false);

    await ok(["start", id]);
    c = await entry(id);
    expect(c?.State).toBe("running");
    expect(c?.Status).toStartWith("Up ");
    expect((await list("")).some((x) => x.Id === id)).toBe(true);

    await ok(["network", "connect", NETWORK, id]);
    c = await entry(id);
    expect(Object.keys(c?.NetworkSettings.Networks ?? {})).toContain(NETWORK);
    expect(c?.NetworkSettings.Networks[NETWORK]?.IPAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

    await ok(["rename", "list-a", "list-b"]);
    expect((await entry(id))?.Names).toEqual(["/list-b"]);
    const byName = (name: string) => list(`all=1&filters=${encodeURIComponent(JSON.stringify({ name: [name] }))}`);
    expect((await byName("list-b")).map((x) => x.Id)).toEqual([id]);
    expect(await byName("list-a")).toEqual([]);

    await ok(["network", "disconnect", NETWORK, id]);
    expect(Object.keys((await entry(id))?.NetworkSettings.Networks ?? {})).not.toContain(NETWORK);

    await ok(["stop", "-t", "1", id]);
    c = await entry(id);
    expect(c?.State).toBe("exited");
    expect(c?.Status).toMatch(/^Exited \(\d+\) .* ago$/);
    expect((await list("")).some((x) => x.Id === id)).toBe(false);

    // What the list says agrees with inspect, which reads the record another way.
    const inspected = JSON.parse(await ok(["inspect", id]))[0];
    c = await entry(id);
    expect(c?.State).toBe(inspected.State.Status);
    expect(c?.Names).toEqual([inspected.Name]);
    expect(Object.keys(c?.NetworkSettings.Networks ?? {}).sort()).toEqual(Object.keys(inspected.NetworkSettings.Networks).sort());

    await ok(["rm", id]);
    expect(await entry(id)).toBeUndefined();
    expect(await byName("list-b")).toEqual([]);
  }, 60_000);

  test("Status follows the clock while nothing else changes", async () => {
    const id = await ok(["run", "-d", "--name", "list-clock", B, "sleep", "600"]);
    try {
      const first = (await entry(id))?.Status;
      expect(first).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
      await eventually(async () => (await entry(id))?.Status !== first, "the Status to move on from " + first);
    } finally {
      await e.docker(["rm", "-f", id]);
    }
  }, 60_000);

  test("healthcheck verdicts reach the list (Status and the health filter)", async () => {
    const id = await ok(["run", "-d", "--name", "list-health", "--health-cmd", "true", "--health-interval", "300ms", "--health-retries", "1", B, "sleep", "600"]);
    try {
      const healthy = () => list(`filters=${encodeURIComponent(JSON.stringify({ health: ["healthy"] }))}`);
      await eventually(async () => (await healthy()).some((x) => x.Id === id), "the container to be listed as healthy");
      expect((await entry(id))?.Status).toMatch(/^Up .* \(healthy\)$/);
    } finally {
      await e.docker(["rm", "-f", id]);
    }
  }, 60_000);

  test("after a daemon restart the list is what the database holds", async () => {
    const ids = [await ok(["create", "--name", "list-keep-1", B, "true"]), await ok(["create", "--name", "list-keep-2", "--label", "k=v", B, "true"])];
    await ok(["rename", "list-keep-1", "list-kept-1"]);
    const before = (await list()).filter((x) => ids.includes(x.Id));
    expect(before.map((x) => x.Names[0])).toEqual(["/list-keep-2", "/list-kept-1"]);
    await e.daemon.stop();
    await e.daemon.restart();
    const after = (await list()).filter((x) => ids.includes(x.Id));
    expect(after).toEqual(before);
    await ok(["rm", ...ids]);
  }, 60_000);
});

describe("a long list", () => {
  const COUNT = 45;

  test("goes out whole with a Content-Length (not chunked), sizes on request", async () => {
    const ids: string[] = [];
    try {
      for (let i = 0; i < COUNT; i++) {
        const res = await e.api("/v1.41/containers/create", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ Image: B, Cmd: ["true"], Labels: { batch: "long-list" } }) });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { Id: string }).Id);
      }
      const c = await rawConnect(e.daemon.socket);
      c.send("GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      await c.closed;
      const text = c.received();
      const headEnd = text.indexOf("\r\n\r\n");
      const head = text.slice(0, headEnd).toLowerCase();
      const body = text.slice(headEnd + 4);
      expect(head).not.toContain("transfer-encoding");
      expect(body.length).toBeGreaterThan(16 * 1024);
      expect(head).toContain(`content-length: ${Buffer.byteLength(body, "latin1")}`);
      const listed = JSON.parse(body) as Summary[];
      expect(listed.filter((x) => ids.includes(x.Id)).length).toBe(COUNT);

      const sized = await list(`all=1&size=1&filters=${encodeURIComponent(JSON.stringify({ label: ["batch=long-list"] }))}`);
      expect(sized.length).toBe(COUNT);
      for (const x of sized) {
        expect(typeof x.SizeRw).toBe("number");
        expect(x.SizeRootFs).toBeGreaterThanOrEqual(x.SizeRw ?? 0);
      }
    } finally {
      for (const id of ids) await e.api(`/v1.41/containers/${id}?force=1`, { method: "DELETE" });
    }
    expect((await list()).filter((x) => ids.includes(x.Id))).toEqual([]);
  }, 120_000);
});
