import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import Docker from "dockerode";
import { existsSync } from "node:fs";
import { docker, bunker } from "./helpers/cli";
import { startDaemon, stopDaemon, type TestDaemon, BUNKER_BIN } from "./helpers/daemon";
import { rawConnect } from "./helpers/raw";

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ env: { BUNKER_TEST_ROUTES: "1" } });
});
afterAll(() => stopDaemon(d));

const api = (path: string, init: RequestInit = {}) => fetch(`http://localhost${path}`, { ...init, unix: d.socket } as RequestInit);

describe("docker CLI", () => {
  test("docker version shows the Bunker server and negotiates API 1.50", async () => {
    const r = await docker(d.env, ["version"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("Server: Bunker Engine");
    expect(r.stdout).toMatch(/API version:\s+1\.51 \(minimum version 1\.24\)/);
    expect(r.stdout).toMatch(/Client:[\s\S]*API version:\s+1\.50/);
    const j = await docker(d.env, ["version", "--format", "{{.Server.APIVersion}} {{.Client.APIVersion}}"]);
    expect(j.stdout.trim()).toBe("1.51 1.50");
  });

  test("docker info reports host figures", async () => {
    const r = await docker(d.env, ["info", "--format", "{{json .}}"]);
    expect(r.exitCode).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.DockerRootDir).toBe(d.dataRoot);
    expect(info.NCPU).toBeGreaterThan(0);
    expect(info.MemTotal).toBeGreaterThan(0);
    expect(info.KernelVersion).toBe((await import("node:os")).release());
    expect(info.Driver).toBe("overlay2");
    expect(["1", "2"]).toContain(info.CgroupVersion);
  });

  test("bunker's own CLI talks to the daemon", async () => {
    const r = await bunker(d.env, ["version"]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("API version:      1.51 (minimum version 1.24)");
    const info = await bunker(d.env, ["info"]);
    expect(info.stdout).toContain(`Docker Root Dir: ${d.dataRoot}`);
  });

  test("our CLI prints a clear error and exits 1 when no daemon listens", async () => {
    const r = await bunker({ BUNKER_HOST: "unix:///nonexistent/bunker.sock" }, ["info"]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("Cannot connect to the Bunker daemon");
  });
});

describe("dockerode", () => {
  test("ping, version, info", async () => {
    const client = new Docker({ socketPath: d.socket });
    expect(String(await client.ping())).toBe("OK");
    const v = await client.version();
    expect(v.ApiVersion).toBe("1.51");
    const info = await client.info();
    expect(info.DockerRootDir).toBe(d.dataRoot);
  });
});

describe("API conventions", () => {
  test("ping headers", async () => {
    const res = await api("/_ping", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("api-version")).toBe("1.51");
    expect(res.headers.get("ostype")).toBe("linux");
    expect(res.headers.get("server")).toMatch(/^Bunker\//);
    expect(res.headers.get("builder-version")).toBe("1");
    expect(res.headers.get("docker-experimental")).toBe("false");
    expect(await (await api("/v1.41/_ping")).text()).toBe("OK");
  });

  test("versions out of range get docker's 400 wording", async () => {
    const old = await api("/v1.12/version");
    expect(old.status).toBe(400);
    expect(old.headers.get("content-type")).toBe("application/json");
    expect(((await old.json()) as { message: string }).message).toBe("client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version");
    const neu = await api("/v1.99/version");
    expect(neu.status).toBe(400);
    expect(((await neu.json()) as { message: string }).message).toBe("client version 1.99 is too new. Maximum supported API version is 1.51");
  });

  test("unknown route → 404 page not found", async () => {
    const res = await api("/v1.51/nope/nothing");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ message: "page not found" });
  });

  test("invalid filters JSON → 400", async () => {
    const res = await api("/events?filters=%7Bnot-json&until=1");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toContain("invalid filter");
  });

  test("events stream daemon events with since/until", async () => {
    const res = await api(`/events?since=0&until=${Math.floor(Date.now() / 1000) + 1}`);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.some((e) => e.Type === "daemon" && e.Action === "start")).toBe(true);
  });
});

describe("HTTP front end", () => {
  test("hijack: 101 UPGRADED, bidirectional bytes, half-close means stdin EOF", async () => {
    const c = await rawConnect(d.socket);
    c.send("POST /v1.51/_bunker/echo?upper=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\nhello ");
    await c.waitFor((t) => t.includes("HELLO "));
    expect(c.received()).toStartWith("HTTP/1.1 101 UPGRADED\r\n");
    expect(c.received()).toContain("Content-Type: application/vnd.docker.raw-stream");
    c.send("world\n");
    await c.waitFor((t) => t.includes("WORLD\n"));
    c.halfClose();
    await c.waitFor((t) => t.includes("bye\n"));
    await c.closed;
  });

  test("a 512 MiB chunked upload streams without being buffered", async () => {
    const chunk = new Uint8Array(1 << 20).fill(7);
    const total = 512;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctrl) {
        if (sent++ === total) ctrl.close();
        else ctrl.enqueue(chunk);
      },
    });
    const res = await api("/_bunker/upload", { method: "POST", body, duplex: "half" } as RequestInit);
    const out = (await res.json()) as { bytes: number; sha256: string; rss: number };
    expect(out.bytes).toBe(total << 20);
    const h = new Bun.CryptoHasher("sha256");
    for (let i = 0; i < total; i++) h.update(chunk);
    expect(out.sha256).toBe(h.digest("hex"));
    // Buffering the body would need > 512 MiB; streaming keeps the daemon far below that.
    expect(out.rss).toBeLessThan(300 * 1024 * 1024);
  });

  test("HEAD on a streaming route answers headers only and stops the stream it did not send", async () => {
    const res = await api("/_bunker/endless", { method: "HEAD" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain");
    expect(await res.text()).toBe("");
    const deadline = Date.now() + 5_000;
    let open = -1;
    while (Date.now() < deadline && open !== 0) {
      open = ((await (await api("/_bunker/endless/open")).json()) as { open: number }).open;
      if (open !== 0) await Bun.sleep(20);
    }
    expect(open).toBe(0);
  });

  test("keep-alive: several requests on one connection, Content-Length and chunked bodies", async () => {
    const c = await rawConnect(d.socket);
    c.send("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nPOST /_bunker/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
    await c.waitFor((t) => t.includes('"bytes":5'));
    c.send("GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await c.closed;
    const text = c.received();
    expect(text.match(/HTTP\/1\.1 200 OK/g)?.length).toBe(3);
    expect(text).toContain(new Bun.CryptoHasher("sha256").update("abcde").digest("hex"));
  });

  test("pings on one connection: a repeated head gets the same answer, any other head is looked at afresh", async () => {
    const c = await rawConnect(d.socket);
    const ping = "GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    c.send(ping + ping + "HEAD /_ping HTTP/1.1\r\nHost: x\r\n\r\n" + "GET /v1.99/_ping HTTP/1.1\r\nHost: x\r\n\r\n" + ping + "GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await c.closed;
    const responses = c.received().split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(responses.map((r) => r.slice(9, 12))).toEqual(["200", "200", "200", "400", "200", "200"]);
    for (const i of [0, 1, 4, 5]) expect(responses[i]).toEndWith("\r\n\r\nOK");
    expect(responses[1]).toBe(responses[0]!);
    expect(responses[2]).toEndWith("\r\n\r\n");
    expect(responses[3]).toContain("client version 1.99 is too new");
    expect(responses[5]!.toLowerCase()).toContain("connection: close");
  });

  test.each([
    ["garbage bytes", "\x00\x01\x02 garbage\r\n\r\n", 400],
    ["bad request line", "GET\r\n\r\n", 400],
    ["bad header", "GET /_ping HTTP/1.1\r\nno colon here\r\n\r\n", 400],
    ["oversized header", `GET /_ping HTTP/1.1\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`, 431],
    ["bad chunk size", "POST /_bunker/upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["bad content-length", "POST /_bunker/upload HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400],
    ["unsupported version", "GET /_ping HTTP/2.0\r\n\r\n", 505],
    ["body over the cap of a buffered endpoint", "POST /auth HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413],
  ])("bad input (%s) → clean %d and the daemon keeps serving", async (_name, bytes, status) => {
    const c = await rawConnect(d.socket);
    c.send(bytes);
    if (status === 400 && bytes.startsWith("POST /_bunker/upload HTTP/1.1\r\nTransfer")) {
      // The head was valid: the error surfaces while the body streams; the connection must close.
      await c.closed;
    } else {
      await c.closed;
      expect(c.received()).toStartWith(`HTTP/1.1 ${status} `);
      expect(c.received()).toContain('{"message":');
    }
    const ok = await api("/_ping");
    expect(ok.status).toBe(200);
  });
});

describe("daemon lifecycle", () => {
  test("the unix socket is mode 0660", async () => {
    const { statSync } = await import("node:fs");
    expect(statSync(d.socket).mode & 0o777).toBe(0o660);
  });

  test("a second daemon on the same data root refuses to start", async () => {
    const proc = Bun.spawn([BUNKER_BIN, "daemon", "-H", `unix://${d.dir}/second.sock`, "--data-root", d.dataRoot, "--pidfile", `${d.dir}/second.pid`], { stderr: "pipe", stdout: "pipe" });
    const code = await proc.exited;
    const err = await new Response(proc.stderr).text();
    expect(code).toBe(1);
    expect(err).toContain("already using data root");
    expect(existsSync(`${d.dir}/second.sock`)).toBe(false);
  });

  test("SIGTERM shuts down cleanly and removes the socket", async () => {
    const other = await startDaemon();
    try {
      expect(await other.stop()).toBe(0);
      expect(existsSync(other.socket)).toBe(false);
      expect(other.logs()).toContain("daemon stopped");
    } finally {
      await stopDaemon(other);
    }
  });
});
