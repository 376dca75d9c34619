/**
 * docker-compose (Debian's 1.29, a Python client on docker-py, installed by scripts/deps.sh) against a daemon from
 * dist/bunker, unchanged: a project with a built image, a named volume, a project network with service names in
 * DNS, depends_on, a published port on 127.0.0.1, a healthcheck, `exec`, `run --rm` with an exit code, and
 * `down -v --rmi local` leaving nothing of the project behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./fixtures/registry";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually } from "./helpers/wait";
import { runTool, type RunResult } from "./helpers/cli";

const COMPOSE_BIN = "/usr/bin/docker-compose";

let e: ContainerEnv;
let dir: string;
let port: number;
const project = `bkc${process.pid}`;

function compose(args: string[]): Promise<RunResult> {
  const file = join(dir, "docker-compose.yml");
  return runTool(COMPOSE_BIN, ["--ansi", "never", "-p", project, "-f", file, "--project-directory", dir, ...args], { ...e.daemon.env, BUSYBOX: e.busybox, WEB_PORT: String(port) });
}

beforeAll(async () => {
  e = await startContainerEnv();
  port = freePort();
  dir = mkdtempSync(join(tmpdir(), "bunker-compose-"));
  mkdirSync(join(dir, "app"));
  writeFileSync(
    join(dir, "app", "Dockerfile"),
    ["ARG BASE", "FROM ${BASE}", "RUN mkdir -p /www && echo built-by-compose > /www/index.html", "EXPOSE 8080", 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]', ""].join("\n"),
  );
  writeFileSync(
    join(dir, "docker-compose.yml"),
    `version: "3.8"
services:
  web:
    build:
      context: ./app
      args:
        BASE: \${BUSYBOX}
    ports:
      - "127.0.0.1:\${WEB_PORT}:8080"
    volumes:
      - shared:/data
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
  client:
    image: \${BUSYBOX}
    depends_on: [web]
    command: ["sh", "-c", "until wget -q -O /data/fetched http://web:8080/; do sleep 0.2; done; cat /data/fetched; exec sleep 600"]
    volumes:
      - shared:/data
volumes:
  shared: {}
`,
  );
}, 120_000);

afterAll(async () => {
  if (dir && e) await compose(["down", "-v", "--rmi", "local", "-t", "1"]).catch(() => {});
  await stopContainerEnv(e);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe("docker-compose 1.29 against bunker", () => {
  test("up --build: the built service answers on its published port, the other reaches it by service name", async () => {
    const up = await compose(["up", "-d", "--build"]);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stdout + up.stderr).toContain("Successfully tagged");

    // `up -d` returns once the containers are started, which may be before httpd listens.
    let page = "";
    await eventually(async () => (page = await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.text(), () => "")) !== "", "web to answer on its published port");
    expect(page).toBe("built-by-compose\n");
    await eventually(async () => (await compose(["logs", "--no-color", "client"])).stdout.includes("built-by-compose"), "the client service's fetch through the service name");
    // The fetched page was written to the named volume both services mount.
    const shared = await compose(["exec", "-T", "web", "cat", "/data/fetched"]);
    expect(shared.exitCode, shared.stderr).toBe(0);
    expect(shared.stdout).toBe("built-by-compose\n");

    const ps = await compose(["ps"]);
    expect(ps.stdout).toContain(`${project}_web_1`);
    expect(ps.stdout).toContain(`127.0.0.1:${port}->8080/tcp`);
    await eventually(async () => (await e.docker(["inspect", "-f", "{{.State.Health.Status}}", `${project}_web_1`])).stdout.trim() === "healthy", "web to become healthy");
  }, 180_000);

  test("run --rm propagates the exit code and leaves no container", async () => {
    const r = await compose(["run", "--rm", "-T", "client", "sh", "-c", "echo one-off; exit 3"]);
    expect(r.exitCode).toBe(3);
    expect(r.stdout, r.stderr).toContain("one-off");
    const names = (await e.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout.split("\n").filter(Boolean).sort();
    expect(names).toEqual([`${project}_client_1`, `${project}_web_1`]);
  }, 120_000);

  test("down -v --rmi local removes the containers, the network, the volume and the built image", async () => {
    const down = await compose(["down", "-v", "--rmi", "local", "-t", "1"]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect((await e.docker(["ps", "-aq"])).stdout.trim()).toBe("");
    expect((await e.docker(["network", "ls", "--format", "{{.Name}}"])).stdout).not.toContain(project);
    expect((await e.docker(["volume", "ls", "-q"])).stdout).not.toContain(project);
    expect((await e.docker(["images", "--format", "{{.Repository}}"])).stdout).not.toContain(`${project}_web`);
  }, 120_000);
});
