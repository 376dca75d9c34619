/**
 * The daemon on TCP with mutual TLS (`--tlsverify`): the real docker CLI with a client certificate signed by
 * the CA gets in; one without a certificate, or with one from another CA, is refused. Loopback only.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./fixtures/registry";
import { docker } from "./helpers/cli";
import { startDaemon, stopDaemon, type TestDaemon } from "./helpers/daemon";

let dir: string;
let d: TestDaemon;
let port: number;

function openssl(args: string[]): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** A CA and a certificate signed by it, for `name` (server: 127.0.0.1; client: clientAuth). */
function issue(ca: string, name: string, ext: string): void {
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-key.pem`, "-subj", `/CN=${name}`, "-out", `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}-key.pem`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.pem`]);
}

function makeCa(name: string): void {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-key.pem`, "-subj", `/CN=${name}`, "-days", "2", "-out", `${name}.pem`]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bunker-tls-"));
  makeCa("ca");
  makeCa("otherca");
  issue("ca", "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  issue("ca", "client", "extendedKeyUsage=clientAuth\n");
  issue("otherca", "stranger", "extendedKeyUsage=clientAuth\n");
  // A port that was free a moment ago: another test file may take it before the daemon binds it, so try a few.
  for (let attempt = 1; ; attempt++) {
    port = freePort();
    try {
      d = await startDaemon({
        args: ["-H", `tcp://127.0.0.1:${port}`, "--tlsverify", "--tlscacert", join(dir, "ca.pem"), "--tlscert", join(dir, "server.pem"), "--tlskey", join(dir, "server-key.pem")],
      });
      break;
    } catch (err) {
      if (attempt === 3) throw err;
    }
  }
}, 60_000);

afterAll(async () => {
  await stopDaemon(d);
  rmSync(dir, { recursive: true, force: true });
});

const tcpEnv = (extra: Record<string, string>) => ({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_CONFIG: join(dir, "docker-config"), ...extra });

test("the docker CLI with a client certificate from the CA gets in over mutual TLS", async () => {
  const r = await docker(tcpEnv({}), ["--tlsverify", "--tlscacert", join(dir, "ca.pem"), "--tlscert", join(dir, "client.pem"), "--tlskey", join(dir, "client-key.pem"), "version", "--format", "{{.Server.APIVersion}}"]);
  expect(r.stderr).toBe("");
  expect(r.stdout.trim()).toBe("1.51");
  // The unix socket keeps working next to the TCP listener.
  expect((await docker(d.env, ["info", "--format", "{{.ServerVersion}}"])).exitCode).toBe(0);
});

test("no client certificate, or one from another CA, is refused", async () => {
  const none = await docker(tcpEnv({}), ["--tlsverify", "--tlscacert", join(dir, "ca.pem"), "version"]);
  expect(none.exitCode).not.toBe(0);
  const stranger = await docker(tcpEnv({}), ["--tlsverify", "--tlscacert", join(dir, "ca.pem"), "--tlscert", join(dir, "stranger.pem"), "--tlskey", join(dir, "stranger-key.pem"), "version"]);
  expect(stranger.exitCode).not.toBe(0);
  expect(stranger.stdout).not.toContain("Bunker Engine");
});

test("plain HTTP to the TLS port gets no API answer", async () => {
  const r = await fetch(`http://127.0.0.1:${port}/_ping`).then((x) => x.text(), (e: Error) => `error: ${e.message}`);
  expect(r).not.toBe("OK");
});
