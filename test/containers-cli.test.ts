/**
 * Our own CLI's container commands (dist/bunker run/create/start/exec/ps/logs/...) against a real daemon.
 * Run: bun run build.ts && bun test test/containers-cli.test.ts (as root)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { bunker } from "./helpers/cli";
import { startContainerEnv, stopContainerEnv, type ContainerEnv } from "./helpers/container-env";
import { eventually } from "./helpers/wait";

let e: ContainerEnv;
let B: string;
const k = (args: string[], stdin?: string) => bunker(e.daemon.env, args, stdin, 60_000);

beforeAll(async () => {
  e = await startContainerEnv();
  B = e.busybox;
}, 120_000);

afterAll(() => stopContainerEnv(e), 60_000);

describe("bunker run", () => {
  test("prints the output, keeps the streams apart and exits with the container's code", async () => {
    expect(await k(["run", "--rm", B, "echo", "hi"])).toEqual({ exitCode: 0, stdout: "hi\n", stderr: "" });
    expect(await k(["run", "--rm", B, "sh", "-c", "echo out; echo err >&2; exit 3"])).toEqual({ exitCode: 3, stdout: "out\n", stderr: "err\n" });
    expect((await k(["ps", "-aq"])).stdout).toBe("");
  });

  test("flags stop at the image: the command keeps its own options", async () => {
    const r = await k(["run", "--rm", "-e", "A=1", "-w", "/tmp", "-u", "1000:1000", "--hostname", "hx", B, "sh", "-c", 'echo $A; pwd; id -u; hostname; ls -d /t*']);
    expect(r.stdout).toBe("1\n/tmp\n1000\nhx\n/tmp\n");
  });

  test("-i pipes stdin; --entrypoint; unknown commands exit 127, daemon errors 125", async () => {
    expect((await k(["run", "--rm", "-i", B, "cat"], "data\n")).stdout).toBe("data\n");
    expect((await k(["run", "--rm", "--entrypoint", "echo", B, "x"])).stdout).toBe("x\n");
    const missing = await k(["run", "--rm", B, "no-such"]);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toContain("executable file not found");
    expect((await k(["run", "--rm", "-u", "nobody-here", B, "true"])).exitCode).toBe(125);
    expect((await k(["run", "--rm", "--bogus-flag", B, "true"])).exitCode).toBe(125);
  });

  test("a missing image is pulled on the first run", async () => {
    const layered = `${e.registry.url}/layered:latest`;
    const r = await k(["run", "--rm", layered]);
    expect(r.stderr).toContain(`Unable to find image '${layered}' locally`);
    expect(r.stdout).toBe("hello from layered\n");
    expect(r.exitCode).toBe(0);
  });
});

describe("bunker container management", () => {
  test("-d, ps, logs, exec, top, stats, pause, rename, stop, wait, start, restart, kill, rm", async () => {
    const id = (await k(["run", "-d", "--name", "kk", B, "sh", "-c", "while true; do echo t; sleep 0.2; done"])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const ps = await k(["ps"]);
    expect(ps.stdout.split("\n")[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    expect(ps.stdout).toContain(id.slice(0, 12));
    expect((await k(["ps", "--format", "{{.Names}} {{.State}}"])).stdout).toBe("kk running\n");
    await eventually(async () => (await k(["logs", "kk"])).stdout.startsWith("t\nt\n"), "log lines");
    expect(await k(["exec", "kk", "sh", "-c", "echo in; exit 7"])).toEqual({ exitCode: 7, stdout: "in\n", stderr: "" });
    expect((await k(["exec", "-i", "kk", "cat"], "piped\n")).stdout).toBe("piped\n");
    expect((await k(["top", "kk"])).stdout).toContain("while true");
    expect((await k(["stats", "--no-stream", "kk"])).stdout).toMatch(/kk\s+\d+\.\d\d%/);
    expect((await k(["pause", "kk"])).stdout).toBe("kk\n");
    expect((await k(["unpause", "kk"])).stdout).toBe("kk\n");
    expect((await k(["rename", "kk", "kk2"])).exitCode).toBe(0);
    expect((await k(["stop", "-t", "0", "kk2"])).stdout).toBe("kk2\n");
    expect((await k(["wait", "kk2"])).stdout).toBe("137\n");
    expect((await k(["start", "kk2"])).stdout).toBe("kk2\n");
    expect((await k(["restart", "-t", "0", "kk2"])).stdout).toBe("kk2\n");
    expect((await k(["kill", "kk2"])).stdout).toBe("kk2\n");
    const inspected = JSON.parse((await k(["inspect", "kk2"])).stdout);
    expect(inspected[0].State.ExitCode).toBe(137);
    expect((await k(["inspect", "-f", "{{.Name}}", "kk2"])).stdout).toBe("/kk2\n");
    expect((await k(["rm", "kk2"])).stdout).toBe("kk2\n");
    expect((await k(["rm", "kk2"])).exitCode).toBe(1);
  }, 60_000);

  test("create + start -a, and attach to a running container", async () => {
    await k(["create", "--name", "ca", B, "sh", "-c", "echo created-run; exit 2"]);
    expect(await k(["start", "-a", "ca"])).toEqual({ exitCode: 2, stdout: "created-run\n", stderr: "" });
    await k(["rm", "ca"]);
    // It answers only once attached (the input comes through the attach), however long attaching takes.
    await k(["run", "-d", "-i", "--name", "at", B, "sh", "-c", "read go; echo late; exit 4"]);
    expect(await k(["attach", "at"], "go\n")).toEqual({ exitCode: 4, stdout: "late\n", stderr: "" });
    await k(["rm", "at"]);
  });
});
