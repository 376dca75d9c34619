/**
 * The container lifecycle through the real docker CLI against a daemon from dist/bunker, with busybox pulled
 * from a fixture registry: run (attached, -i, -t, -d), exit codes, logs, exec, wait, rename, top, pause,
 * stats, restart policies, --rm, and the errors docker users rely on.
 * Run: bun run build.ts && bun test test/containers.test.ts (as root)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { dockerUntil } from "./helpers/cli";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { rawConnect } from "./helpers/raw";
import { eventually, SETTLE_TIMEOUT_MS, StreamText } from "./helpers/wait";

let e: ContainerEnv;
let B: string;

beforeAll(async () => {
  e = await startContainerEnv();
  B = e.busybox;
}, 120_000);

afterAll(() => stopContainerEnv(e), 60_000);

const inspect = async (ref: string) => JSON.parse((await e.docker(["inspect", ref])).stdout)[0];

describe("docker run", () => {
  test("run --rm busybox echo hi prints exactly hi and leaves nothing behind", async () => {
    const r = await e.docker(["run", "--rm", B, "echo", "hi"]);
    expect(r).toEqual({ exitCode: 0, stdout: "hi\n", stderr: "" });
    expect((await e.docker(["ps", "-aq"])).stdout).toBe("");
  });

  test("the exit code propagates", async () => {
    expect((await e.docker(["run", "--rm", B, "sh", "-c", "exit 3"])).exitCode).toBe(3);
  });

  test("stdout and stderr stay apart", async () => {
    const r = await e.docker(["run", "--rm", B, "sh", "-c", "echo to-out; echo to-err >&2"]);
    expect(r).toEqual({ exitCode: 0, stdout: "to-out\n", stderr: "to-err\n" });
  });

  test("10 MB of output arrive intact", async () => {
    const r = await e.docker(["run", "--rm", B, "sh", "-c", "head -c 10485760 /dev/urandom > /tmp/f; base64 /tmp/f > /tmp/b; md5sum /tmp/b >&2; cat /tmp/b"], undefined, 120_000);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(14_000_000);
    expect(r.stderr.split(" ")[0]).toBe(createHash("md5").update(r.stdout).digest("hex"));
  }, 120_000);

  test("-e, -w, -u, --hostname, --name and --entrypoint", async () => {
    const r = await e.docker(["run", "--rm", "-e", "GREETING=hello there", "-w", "/work/dir", "-u", "1000", "--hostname", "box", "--name", "named-one", B, "sh", "-c", 'echo "$GREETING"; pwd; id; hostname; cat /etc/hostname; echo $HOME']);
    expect(r.stdout).toBe("hello there\n/work/dir\nuid=1000(app) gid=1000(app)\nbox\nbox\n/home/app\n");
    const ep = await e.docker(["run", "--rm", "--entrypoint", "echo", B, "from", "entrypoint"]);
    expect(ep.stdout).toBe("from entrypoint\n");
    const group = await e.docker(["run", "--rm", "-u", "app:nogroup", B, "id", "-g"]);
    expect(group.stdout).toBe("65534\n");
  });

  test("stdin is piped with -i and its end reaches the container", async () => {
    const r = await e.docker(["run", "--rm", "-i", B, "cat"], "data\nmore\n");
    expect(r).toEqual({ exitCode: 0, stdout: "data\nmore\n", stderr: "" });
  });

  test("-t runs under a pty (script harness)", async () => {
    const proc = Bun.spawn(["script", "-qec", `docker run -t --rm ${B} sh -c 'tty; echo $TERM'`, "/dev/null"], { env: { ...process.env, ...e.daemon.env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(out).toContain("/dev/pts/0");
    expect(out).toContain("xterm");
  });

  test("-it: input typed at the terminal reaches the shell and the exit code comes back", async () => {
    const proc = Bun.spawn(["script", "-qec", `docker run -it --rm ${B} sh`, "/dev/null"], { env: { ...process.env, ...e.daemon.env }, stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    const timer = setTimeout(() => proc.kill(9), SETTLE_TIMEOUT_MS);
    const output = new StreamText(proc.stdout);
    // Typed once the shell prompts, as a user would.
    await output.until(/# /);
    proc.stdin.write("echo hello-$((6*7)); tty; exit 3\r");
    await proc.stdin.flush();
    const out = await output.rest();
    clearTimeout(timer);
    expect(await proc.exited).toBe(3);
    expect(out).toContain("hello-42");
    expect(out).toContain("/dev/pts/0");
  });

  test("start -ai delivers stdin sent before the start (attach, then start)", async () => {
    const c = await e.docker(["create", "-i", "--name", "att", B, "cat"]);
    expect(c.exitCode).toBe(0);
    const r = await e.docker(["start", "-ai", "att"], "x\n");
    expect(r).toEqual({ exitCode: 0, stdout: "x\n", stderr: "" });
    expect((await e.docker(["rm", "att"])).exitCode).toBe(0);
  });
});

describe("detached containers", () => {
  test("-d, logs, logs -f, stop, start, restart, kill, rm -f", async () => {
    const run = await e.docker(["run", "-d", "--name", "ticker", B, "sh", "-c", "i=0; while true; do echo tick $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done"]);
    expect(run.exitCode).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    // stdout and stderr are two pipes the keeper reads on its own schedule: wait for both to have their lines.
    await eventually(async () => {
      const { stdout, stderr } = await e.docker(["logs", "ticker"]);
      return stdout.includes("tick 2") && stderr.includes("err 1");
    }, "three ticks and two errs");
    const logs = await e.docker(["logs", "ticker"]);
    expect(logs.stdout).toStartWith("tick 0\ntick 1\ntick 2\n");
    expect(logs.stderr).toStartWith("err 0\nerr 1\n");
    const stamped = await e.docker(["logs", "-t", "--tail", "1", "ticker"]);
    expect(stamped.stdout + stamped.stderr).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (tick|err) \d+\n$/);
    // New lines arrive while following.
    expect(await dockerUntil(e.daemon.env, ["logs", "-f", "--tail", "0", "ticker"], /tick \d+\n/)).toMatch(/^tick \d+\n/);
    const ps = await e.docker(["ps", "--format", "{{.Names}} {{.State}} {{.Command}}"]);
    expect(ps.stdout).toContain('ticker running "sh -c \'i=0; while t…"');

    const stop = await e.docker(["stop", "-t", "1", "ticker"]);
    expect(stop).toMatchObject({ exitCode: 0, stdout: "ticker\n" });
    expect((await inspect("ticker")).State).toMatchObject({ Status: "exited", Running: false, ExitCode: 137 });
    expect((await e.docker(["start", "ticker"])).exitCode).toBe(0);
    expect((await inspect("ticker")).State.Running).toBe(true);
    const pid1 = (await inspect("ticker")).State.Pid;
    expect((await e.docker(["restart", "-t", "0", "ticker"])).exitCode).toBe(0);
    const after = await inspect("ticker");
    expect(after.State.Running).toBe(true);
    expect(after.State.Pid).not.toBe(pid1);
    expect((await e.docker(["kill", "ticker"])).exitCode).toBe(0);
    expect((await inspect("ticker")).State).toMatchObject({ Running: false, ExitCode: 137 });
    expect((await e.docker(["start", "ticker"])).exitCode).toBe(0);
    expect((await e.docker(["rm", "-f", "ticker"])).exitCode).toBe(0);
    expect((await e.docker(["inspect", "ticker"])).exitCode).toBe(1);
    expect(existsSync(`${e.daemon.dataRoot}/containers/${id}`)).toBe(false);
  }, 60_000);

  test("files survive an exit and a start right after it; rm leaves nothing of the container in the data root", async () => {
    const id = (await e.docker(["create", B, "sh", "-c", "echo run >> /kept; cat /kept"])).stdout.trim();
    expect((await e.docker(["start", "-a", id])).stdout).toBe("run\n");
    // Its root filesystem was detached at the exit and is released in the background: the start waits for that.
    expect((await e.docker(["start", "-a", id])).stdout).toBe("run\nrun\n");
    expect((await e.docker(["rm", id])).exitCode).toBe(0);
    const root = e.daemon.dataRoot;
    expect(existsSync(`${root}/containers/${id}`)).toBe(false);
    expect(existsSync(`${root}/overlay/${id}`)).toBe(false);
    // The directories themselves are deleted in the background, from tmp/ and the storage driver's staging area.
    await eventually(() => readdirSync(`${root}/tmp`).length === 0 && readdirSync(`${root}/overlay/.staging`).length === 0, "the removed container's directories to be deleted");
  });

  test("exec, exec -i, exec -t and their exit codes", async () => {
    await e.docker(["run", "-d", "--name", "target", B, "sleep", "300"]);
    const r = await e.docker(["exec", "target", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    expect(r).toEqual({ exitCode: 4, stdout: "out\n", stderr: "err\n" });
    const i = await e.docker(["exec", "-i", "target", "cat"], "piped\n");
    expect(i).toEqual({ exitCode: 0, stdout: "piped\n", stderr: "" });
    const ctx = await e.docker(["exec", "-w", "/tmp", "-u", "1000", "-e", "X=y", "target", "sh", "-c", "pwd; id -u; echo $X; cat /proc/1/comm"]);
    expect(ctx.stdout).toBe("/tmp\n1000\ny\nsleep\n");
    const missing = await e.docker(["exec", "target", "no-such-cmd"]);
    expect(missing.exitCode).toBe(127);
    expect(missing.stdout + missing.stderr).toContain("executable file not found");
    const tty = Bun.spawn(["script", "-qec", "docker exec -t target tty", "/dev/null"], { env: { ...process.env, ...e.daemon.env }, stdout: "pipe", stdin: "ignore" });
    expect(await new Response(tty.stdout).text()).toContain("/dev/pts/0");
    expect(await tty.exited).toBe(0);
    await e.docker(["stop", "-t", "0", "target"]);
    const stopped = await e.docker(["exec", "target", "true"]);
    expect(stopped.exitCode).not.toBe(0);
    expect(stopped.stderr).toContain("is not running");
    const api = await e.api("/v1.51/containers/target/exec", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ Cmd: ["true"] }) });
    expect(api.status).toBe(409);
    await e.docker(["rm", "target"]);
  }, 60_000);

  test("wait, rename, top, pause/unpause, stats --no-stream", async () => {
    await e.docker(["run", "-d", "--name", "busy", B, "sh", "-c", "sleep 1; exit 5"]);
    expect((await e.docker(["wait", "busy"])).stdout).toBe("5\n");
    expect((await e.docker(["rename", "busy", "renamed"])).exitCode).toBe(0);
    expect((await inspect("renamed")).Name).toBe("/renamed");
    expect((await e.docker(["inspect", "busy"])).exitCode).toBe(1);
    await e.docker(["rm", "renamed"]);

    await e.docker(["run", "-d", "--name", "sleeper", B, "sleep", "300"]);
    const top = await e.docker(["top", "sleeper"]);
    expect(top.stdout.split("\n")[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(top.stdout).toContain("sleep 300");
    const aux = await e.docker(["top", "sleeper", "-eo", "pid,comm"]);
    expect(aux.stdout).toMatch(/PID\s+COMMAND\n\s*\d+\s+sleep\n/);

    expect((await e.docker(["pause", "sleeper"])).exitCode).toBe(0);
    expect((await inspect("sleeper")).State).toMatchObject({ Status: "paused", Paused: true, Running: true });
    expect((await e.docker(["ps", "--format", "{{.Status}}", "-f", "name=sleeper"])).stdout).toMatch(/\(Paused\)/);
    expect((await e.docker(["unpause", "sleeper"])).exitCode).toBe(0);
    expect((await inspect("sleeper")).State).toMatchObject({ Status: "running", Paused: false });

    const stats = await e.docker(["stats", "--no-stream", "sleeper"]);
    expect(stats.exitCode).toBe(0);
    const [header, row] = stats.stdout.split("\n");
    expect(header).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    expect(row).toMatch(/^[0-9a-f]{12}\s+sleeper\s+\d+\.\d\d%\s+[\d.]+[KMG]?i?B \/ [\d.]+[KMG]iB\s+\d+\.\d\d%.*\s1$/);
    await e.docker(["rm", "-f", "sleeper"]);
  }, 60_000);

  test("resize reaches the container's pty; container prune removes stopped containers", async () => {
    await e.docker(["run", "-d", "-t", "--name", "sized", B, "sleep", "300"]);
    const resized = await e.api("/v1.51/containers/sized/resize?h=30&w=100", { method: "POST" });
    expect(resized.status).toBe(200);
    expect((await e.docker(["exec", "sized", "sh", "-c", "stty size < /dev/console"])).stdout).toBe("30 100\n");
    await e.docker(["create", "--name", "idle1", B, "true"]);
    await e.docker(["run", "--name", "idle2", B, "true"]);
    const pruned = await e.docker(["container", "prune", "-f"]);
    expect(pruned.exitCode).toBe(0);
    expect((await e.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout).toBe("sized\n");
    await e.docker(["rm", "-f", "sized"]);
  });

  test("--log-opt max-size/max-file rotate the json-file log", async () => {
    await e.docker(["run", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", B, "sh", "-c", "seq 1 400"]);
    const c = await inspect("chatty");
    expect(c.HostConfig.LogConfig).toEqual({ Type: "json-file", Config: { "max-size": "2k", "max-file": "2" } });
    expect(existsSync(`${c.LogPath}.1`)).toBe(true);
    expect(existsSync(`${c.LogPath}.2`)).toBe(false);
    const lines = (await e.docker(["logs", "chatty"])).stdout.split("\n").filter(Boolean);
    expect(lines.at(-1)).toBe("400");
    expect(lines.length).toBeLessThan(400);
    expect(Number(lines[0])).toBe(401 - lines.length);
    await e.docker(["rm", "chatty"]);
  });

  test("restart policy on-failure:2 restarts twice, then stays exited", async () => {
    await e.docker(["run", "-d", "--name", "flaky", "--restart", "on-failure:2", B, "sh", "-c", "exit 1"]);
    await eventually(async () => {
      const s = await inspect("flaky");
      return s.RestartCount === 2 && s.State.Status === "exited";
    }, "two restarts");
    await Bun.sleep(500);
    const s = await inspect("flaky");
    expect(s.RestartCount).toBe(2);
    expect(s.State).toMatchObject({ Status: "exited", ExitCode: 1, Restarting: false });
    await e.docker(["rm", "flaky"]);
  }, 60_000);

  test("restart policy always is not applied after docker stop", async () => {
    await e.docker(["run", "-d", "--name", "always", "--restart", "always", B, "sh", "-c", "sleep 0.2; exit 0"]);
    await eventually(async () => (await inspect("always")).RestartCount >= 1, "a restart");
    await e.docker(["stop", "-t", "0", "always"]);
    await Bun.sleep(800);
    expect((await inspect("always")).State.Running).toBe(false);
    await e.docker(["rm", "always"]);
  }, 60_000);
});

describe("inspect, ps and events", () => {
  test("inspect has docker's shape", async () => {
    await e.docker(["create", "--name", "shape", "-l", "team=core", B, "echo", "x"]);
    const c = await inspect("shape");
    expect(c.Name).toBe("/shape");
    expect(c.Path).toBe("echo");
    expect(c.Args).toEqual(["x"]);
    expect(c.Image).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(c.Created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(c.State).toEqual({ Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z" });
    expect(c.Config.Hostname).toBe(c.Id.slice(0, 12));
    expect(c.Config.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]);
    expect(c.Config.Labels).toEqual({ team: "core" });
    expect(c.HostConfig).toMatchObject({ NetworkMode: "default", LogConfig: { Type: "json-file" }, ShmSize: 67108864, RestartPolicy: { Name: "no", MaximumRetryCount: 0 } });
    expect(c.Mounts).toEqual([]);
    expect(c.RestartCount).toBe(0);
    expect(c.Driver).toBe("overlay2");
    for (const p of [c.ResolvConfPath, c.HostnamePath, c.HostsPath]) expect(existsSync(p)).toBe(true);
    expect(c.LogPath).toBe(`${e.daemon.dataRoot}/containers/${c.Id}/${c.Id}-json.log`);
    expect(c.NetworkSettings).toHaveProperty("Networks");
  });

  test("ps filters: status, name, label, exited, ancestor", async () => {
    await e.docker(["run", "--name", "done3", B, "sh", "-c", "exit 3"]);
    const names = async (...args: string[]) => (await e.docker(["ps", "-a", "--format", "{{.Names}}", ...args])).stdout.split("\n").filter(Boolean).sort();
    expect(await names("-f", "status=created")).toEqual(["shape"]);
    expect(await names("-f", "name=done")).toEqual(["done3"]);
    expect(await names("-f", "label=team=core")).toEqual(["shape"]);
    expect(await names("-f", "exited=3")).toEqual(["done3"]);
    expect(await names("-f", `ancestor=${B}`)).toEqual(["done3", "shape"]);
    expect((await e.docker(["ps", "--format", "{{.Names}}"])).stdout).toBe("");
    const status = (await e.docker(["ps", "-a", "-f", "name=done3", "--format", "{{.Status}}"])).stdout;
    expect(status).toMatch(/^Exited \(3\) .* ago\n$/);
    const bad = await e.api(`/v1.51/containers/json?filters=${encodeURIComponent('{"nope":["x"]}')}`);
    expect(bad.status).toBe(400);
    await e.docker(["rm", "shape", "done3"]);
  });

  test("attach with logs=1 replays the log in frames; docker info and system df count containers", async () => {
    await e.docker(["run", "--name", "said", B, "sh", "-c", "echo first; echo second >&2"]);
    const conn = await rawConnect(e.daemon.socket);
    conn.send("POST /v1.51/containers/said/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
    await conn.closed;
    const text = conn.received();
    expect(text).toStartWith("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n");
    expect(text).toEndWith("\x01\x00\x00\x00\x00\x00\x00\x06first\n\x02\x00\x00\x00\x00\x00\x00\x07second\n");
    const info = JSON.parse((await e.docker(["info", "--format", "{{json .}}"])).stdout);
    expect(info).toMatchObject({ Containers: 1, ContainersRunning: 0, ContainersPaused: 0, ContainersStopped: 1 });
    const df = (await (await e.api("/v1.51/system/df")).json()) as { Containers: { Names: string[]; SizeRw: number }[] };
    expect(df.Containers.map((c) => c.Names[0])).toEqual(["/said"]);
    await e.docker(["rm", "said"]);
  });

  test("events report the lifecycle", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await e.docker(["run", "--rm", "--name", "evented", B, "true"]);
    const r = await e.docker(["events", "--since", String(since), "--until", String(Math.ceil(Date.now() / 1000) + 1), "--filter", "container=evented", "--format", "{{.Action}}"]);
    const actions = r.stdout.split("\n").filter(Boolean);
    for (const a of ["create", "attach", "start", "die", "destroy"]) expect(actions).toContain(a);
    expect(actions.indexOf("start")).toBeLessThan(actions.indexOf("die"));
  });
});

describe("bad input", () => {
  test("a nonexistent image: docker run reports the pull failure and exits 125", async () => {
    const r = await e.docker(["run", "--rm", `${e.registry.url}/no-such-image`]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("Unable to find image");
    expect(r.stderr).toMatch(/not found|manifest unknown/);
  });

  test("an unknown command exits 127, a non-executable one 126", async () => {
    const r = await e.docker(["run", "--rm", B, "no-such-command"]);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    expect((await e.docker(["run", "--rm", B, "/etc/passwd"])).exitCode).toBe(126);
    expect((await e.docker(["ps", "-aq"])).stdout).toBe(""); // --rm removed the ones that never started
  });

  test("an invalid name is a 400, a taken name a 409 with docker's message", async () => {
    const create = (name: string) =>
      e.api(`/v1.51/containers/create?name=${encodeURIComponent(name)}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ Image: B, Cmd: ["true"] }) });
    const bad = await create("bad name!");
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain("Invalid container name");
    const first = await create("taken");
    expect(first.status).toBe(201);
    const { Id } = (await first.json()) as { Id: string };
    const again = await create("taken");
    expect(again.status).toBe(409);
    expect(((await again.json()) as { message: string }).message).toBe(`Conflict. The container name "/taken" is already in use by container "${Id}". You have to remove (or rename) that container to be able to reuse that name.`);
    const noImage = await e.api("/v1.51/containers/create", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ Image: "nothing-here:1" }) });
    expect(noImage.status).toBe(404);
    expect(((await noImage.json()) as { message: string }).message).toBe("No such image: nothing-here:1");
    await e.docker(["rm", "taken"]);
  });

  test("start twice is a 304 (no error), rm of a running container without force a 409", async () => {
    await e.docker(["run", "-d", "--name", "twice", B, "sleep", "300"]);
    const again = await e.api("/v1.51/containers/twice/start", { method: "POST" });
    expect(again.status).toBe(304);
    expect((await e.docker(["start", "twice"])).exitCode).toBe(0);
    const rm = await e.docker(["rm", "twice"]);
    expect(rm.exitCode).toBe(1);
    expect(rm.stderr).toContain("You cannot remove a running container");
    expect(rm.stderr).toContain("Stop the container before attempting removal or force remove");
    const stopped = await e.api("/v1.51/containers/twice/stop?t=0", { method: "POST" });
    expect(stopped.status).toBe(204);
    expect((await e.api("/v1.51/containers/twice/stop", { method: "POST" })).status).toBe(304);
    expect((await e.api("/v1.51/containers/twice/kill", { method: "POST" })).status).toBe(409);
    await e.docker(["rm", "twice"]);
  }, 30_000);

  test("a user that the image does not know is a clear error", async () => {
    const r = await e.docker(["run", "--rm", "-u", "nosuchuser", B, "true"]);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toContain("unable to find user nosuchuser: no matching entries in passwd file");
  });

  test("invalid options are refused before anything runs", async () => {
    const sysctl = await e.docker(["run", "--rm", "--sysctl", "kernel.hostname=x", B, "true"]);
    expect(sysctl.exitCode).toBe(125);
    expect(sysctl.stderr).toContain("not allowed");
    const mem = await e.docker(["run", "--rm", "-m", "1m", B, "true"]);
    expect(mem.stderr).toContain("Minimum memory limit allowed is 6MB");
    const restart = await e.docker(["run", "--rm", "--restart", "always", B, "true"]);
    expect(restart.exitCode).toBe(125);
    expect((await e.docker(["ps", "-aq"])).stdout).toBe("");
  });
});
