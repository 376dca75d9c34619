/**
 * The container service's pure parts: config merging, HostConfig checks, users from /etc/passwd and /etc/group,
 * resolv.conf, json-file logs read back and followed (rotation, truncation), detach keys, list filters, and our
 * CLI's docker-style flag parsing.
 * Run: bun test test/containers-units.test.ts
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFlags, argsAfterCommand } from "../src/cli/containers/argv";
import { createBody, CREATE_FLAGS, ramInBytes } from "../src/cli/containers/create-flags";
import { timestampArg } from "../src/cli/containers/logs";
import { bytesSize } from "../src/util/units";
import { mergeConfig } from "../src/containers/create-config";
import { hostsFileFor, resolvConfFor } from "../src/containers/etc-files";
import { normalizeHostConfig, type HostLimits } from "../src/containers/host-config";
import { DetachScanner, parseDetachKeys } from "../src/containers/io/detach-keys";
import { frame } from "../src/containers/io/stdcopy";
import { selectContainers, SummaryList } from "../src/containers/list";
import { mountPointsOf } from "../src/containers/mounts";
import { ContainerStore } from "../src/containers/store";
import { openStore } from "../src/store/db";
import { selectEntries, snapshotLogs } from "../src/containers/logs/reader";
import { LogTail } from "../src/containers/logs/tail";
import { launchMount, parseBind, parseTmpfs } from "../src/volumes/mount-spec";
import { generateName, normalizeName } from "../src/containers/names";
import { Backoff, shouldRestart } from "../src/containers/restart-policy";
import { mergeEnv, processEnv } from "../src/containers/run-spec";
import { parseSecurityOpts } from "../src/containers/security";
import { parseSignal } from "../src/containers/signals";
import { initialState, emptyNetworkSettings, type ContainerRecord } from "../src/containers/types";
import { resolveUser, resolveUserFrom } from "../src/containers/user";
import { fixedNanoStamp } from "../src/containers/time";
import { statusText, summaryView } from "../src/containers/views";

const dir = mkdtempSync(join(tmpdir(), "bunker-container-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOST: HostLimits = {
  ncpu: 2,
  cgroup: { version: "1", driver: "cgroupfs", memoryLimit: true, swapLimit: true, cpuCfsPeriod: true, cpuCfsQuota: true, cpuShares: true, cpuSet: true, pidsLimit: true, blkioWeight: true, oomKillDisable: false },
};

describe("create config", () => {
  const image = { Env: ["PATH=/bin", "LANG=C"], Cmd: ["sh"], Entrypoint: null, WorkingDir: "/srv", User: "app", Labels: { a: "1" }, StopSignal: "SIGQUIT" };

  test("the image fills what the request leaves out; request env wins", () => {
    const c = mergeConfig({ Image: "x", Env: ["LANG=fr"], Labels: { b: "2" } }, image, "0123456789abcdef");
    expect(c).toMatchObject({ Cmd: ["sh"], Entrypoint: null, WorkingDir: "/srv", User: "app", Hostname: "0123456789ab", StopSignal: "SIGQUIT", Labels: { a: "1", b: "2" } });
    expect(c.Env).toEqual(["LANG=fr", "PATH=/bin"]);
  });

  test("an entrypoint from the request drops the image's Cmd; --entrypoint '' clears both", () => {
    expect(mergeConfig({ Image: "x", Entrypoint: ["echo"] }, { Cmd: ["sh"], Entrypoint: ["/init"] }, "id").Cmd).toBeNull();
    expect(mergeConfig({ Image: "x", Cmd: ["ls"] }, { Cmd: ["sh"], Entrypoint: ["/init"] }, "id")).toMatchObject({ Entrypoint: ["/init"], Cmd: ["ls"] });
    expect(() => mergeConfig({ Image: "x", Entrypoint: [""] }, { Entrypoint: ["/init"] }, "id")).toThrow("No command specified");
  });

  test("HostConfig defaults, checks and warnings", () => {
    const warnings: string[] = [];
    const h = normalizeHostConfig({ Memory: 64 * 1024 * 1024, NetworkMode: "" }, { ...HOST, cgroup: { ...HOST.cgroup, swapLimit: false } }, warnings);
    expect(h).toMatchObject({ NetworkMode: "default", ShmSize: 67108864, RestartPolicy: { Name: "no", MaximumRetryCount: 0 }, MemorySwap: -1, PidsLimit: null });
    expect(warnings).toEqual(["Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."]);
    const bad = (raw: object) => () => normalizeHostConfig(raw, HOST, []);
    expect(bad({ Memory: 1024 })).toThrow("Minimum memory limit allowed is 6MB");
    expect(bad({ NanoCpus: 3e9 })).toThrow("Range of CPUs is from 0.01 to 2.00");
    expect(bad({ CpusetCpus: "0-3" })).toThrow("Requested CPUs are not available");
    expect(bad({ RestartPolicy: { Name: "always", MaximumRetryCount: 0 }, AutoRemove: true })).toThrow("AutoRemove");
    expect(bad({ CapAdd: ["NOT_A_CAP"] })).toThrow("unknown capability");
    expect(bad({ Sysctls: { "kernel.hostname": "x" } })).toThrow("not allowed");
    expect(bad({ Sysctls: { "net.ipv4.ip_forward": "1" }, NetworkMode: "host" })).toThrow("host network");
    expect(bad({ SecurityOpt: ["bogus=1"] })).toThrow("invalid --security-opt");
    expect(bad({ LogConfig: { Type: "syslog", Config: {} } })).toThrow("not supported");
    expect(bad({ Binds: ["/a:/b:bogus"] })).toThrow("invalid mode: bogus");
    expect(bad({ VolumesFrom: ["ctr:nocopy"] })).toThrow("invalid mode: nocopy");
  });

  test("names: docker's pattern, a leading slash dropped, generated ones free", () => {
    expect(normalizeName("/web.1_a-b")).toBe("web.1_a-b");
    expect(() => normalizeName("-x")).toThrow("Invalid container name");
    expect(() => normalizeName("a")).toThrow();
    const taken = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const n = generateName((x) => taken.has(x));
      expect(n).toMatch(/^[a-z]+_[a-z]+\d?$/);
      taken.add(n);
    }
  });

  test("security options, signals, mounts", () => {
    expect(parseSecurityOpts(["no-new-privileges:true", "seccomp=unconfined"])).toMatchObject({ noNewPrivileges: true, seccomp: { kind: "unconfined" } });
    expect(parseSecurityOpts(['seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}']).seccomp.kind).toBe("custom");
    expect([parseSignal("TERM"), parseSignal("sigkill"), parseSignal("10"), parseSignal("RTMIN+2")]).toEqual([15, 9, 10, 36]);
    expect(() => parseSignal("SIGNOPE")).toThrow("Invalid signal");
    expect(launchMount(parseBind("/a:/b:ro"), "/a")).toMatchObject({ type: "bind", source: "/a", destination: "/b", readonly: true });
    expect(launchMount(parseTmpfs("/run", "size=1m,exec"), "")).toMatchObject({ type: "tmpfs", destination: "/run", noexec: false, nosuid: true, data: "size=1m" });
  });
});

describe("process environment and users", () => {
  test("docker's env order: PATH, HOSTNAME, TERM, the container's, HOME", () => {
    const base = { ...mergeConfig({ Image: "x", Cmd: ["sh"], Env: ["PATH=/custom", "A=1"], Tty: true }, {}, "abcdefabcdef00"), Hostname: "h" };
    expect(processEnv(base, "/root")).toEqual(["PATH=/custom", "HOSTNAME=h", "TERM=xterm", "A=1", "HOME=/root"]);
    expect(mergeEnv(["A=1", "B=2"], ["A=3"])).toEqual(["A=3", "B=2"]);
  });

  const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
  const group = "root:x:0:\nwheel:x:10:app,other\napp:x:1000:\nstaff:x:50:\n";

  test("names and numbers, like runc's GetExecUser", () => {
    expect(resolveUserFrom(passwd, group, "", [])).toEqual({ uid: 0, gid: 0, additionalGids: [], home: "/root" });
    expect(resolveUserFrom(passwd, group, "app", [])).toEqual({ uid: 1000, gid: 1000, additionalGids: [10], home: "/home/app" });
    expect(resolveUserFrom(passwd, group, "app:staff", ["wheel", "99"])).toEqual({ uid: 1000, gid: 50, additionalGids: [10, 99], home: "/home/app" });
    expect(resolveUserFrom(passwd, group, "4242", [])).toEqual({ uid: 4242, gid: 0, additionalGids: [], home: "/" });
    expect(() => resolveUserFrom(passwd, group, "ghost", [])).toThrow("unable to find user ghost: no matching entries in passwd file");
    expect(() => resolveUserFrom(passwd, group, "app:ghosts", [])).toThrow("unable to find group ghosts");
  });

  test("/etc/passwd is read inside the root: a symlink cannot reach host files", () => {
    const root = join(dir, "root");
    mkdirSync(join(root, "etc"), { recursive: true });
    writeFileSync(join(dir, "host-passwd"), "evil:x:0:0::/:/bin/sh\n");
    symlinkSync(join(dir, "host-passwd"), join(root, "etc/passwd"));
    symlinkSync("../../../../../../../../etc/shadow", join(root, "etc/group"));
    expect(() => resolveUser(root, "evil", [])).toThrow("unable to find user evil");
    expect(resolveUser(root, "", [])).toEqual({ uid: 0, gid: 0, additionalGids: [], home: "/" });
  });
});

describe("/etc files", () => {
  test("resolv.conf drops loopback nameservers, falls back to public ones, applies --dns", () => {
    const host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\noptions edns0\n";
    expect(resolvConfFor(host, { servers: [], search: [], options: [] }, false)).toBe("# generated\nnameserver 10.0.0.1\nsearch corp\noptions edns0\n");
    expect(resolvConfFor("nameserver 127.0.0.53\n", { servers: [], search: [], options: [] }, false)).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    expect(resolvConfFor(host, { servers: [], search: [], options: [] }, true)).toBe(host);
    expect(resolvConfFor(host, { servers: ["1.1.1.1"], search: ["x.org"], options: ["ndots:2"] }, false)).toBe("# generated\nnameserver 1.1.1.1\nsearch x.org\noptions ndots:2\n");
  });

  test("hosts has the standard entries, --add-host lines and the container's address", () => {
    const hosts = hostsFileFor(["db:10.0.0.5", "v6:fe80::1"], { ip: "172.17.0.2", names: ["abc"] });
    expect(hosts).toStartWith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    expect(hosts).toEndWith("10.0.0.5\tdb\nfe80::1\tv6\n172.17.0.2\tabc\n");
  });
});

describe("json-file logs (written by the keeper)", () => {
  test("docker logs -t stamps carry all nine fraction digits though the file trims them", () => {
    expect(fixedNanoStamp("2026-11-29T06:27:08.61722096Z")).toBe("2026-11-29T06:27:08.617220960Z");
    expect(fixedNanoStamp("2026-11-29T06:27:08Z")).toBe("2026-11-29T06:27:08.000000000Z");
    expect(fixedNanoStamp("2026-11-29T06:27:08.123456789Z")).toBe("2026-11-29T06:27:08.123456789Z");
  });

  const line = (stream: string, log: string, second: number) => `${JSON.stringify({ log, stream, time: `2026-01-01T00:00:${String(second).padStart(2, "0")}.000000001Z` })}\n`;

  test("rotated files are read oldest first; a torn last line is skipped; streams and tail select", () => {
    const path = join(dir, "c-json.log");
    writeFileSync(`${path}.2`, line("stdout", "one\n", 1));
    writeFileSync(`${path}.1`, line("stderr", "err\n", 2) + line("stdout", "two\n", 3));
    writeFileSync(path, line("stdout", "three\n", 4) + '{"log":"torn');
    const all = snapshotLogs(path, 3)();
    expect(all.map((e) => e.log)).toEqual(["one\n", "err\n", "two\n", "three\n"]);
    expect(selectEntries(all, { stdout: true, stderr: false, tail: 2 }).map((e) => e.log)).toEqual(["two\n", "three\n"]);
    expect(selectEntries(all, { stdout: false, stderr: true }).map((e) => e.log)).toEqual(["err\n"]);
    expect(snapshotLogs(path, 1)().map((e) => e.log)).toEqual(["three\n"]);
  });

  test("a follower reads what is appended, keeps up with rotation and truncation, waits for a whole line", () => {
    const path = join(dir, "f-json.log");
    writeFileSync(path, line("stdout", "before\n", 1));
    const tail = new LogTail(path, null, 0);
    try {
      expect(tail.read().map((e) => e.log)).toEqual(["before\n"]);
      expect(tail.read()).toEqual([]);
      const half = line("stdout", "split\n", 2);
      appendFileSync(path, half.slice(0, 10));
      expect(tail.read()).toEqual([]);
      appendFileSync(path, half.slice(10));
      expect(tail.read().map((e) => e.log)).toEqual(["split\n"]);
      // Rotation: the last lines of the old file come first, then the new file.
      appendFileSync(path, line("stdout", "last-of-old\n", 3));
      renameSync(path, `${path}.1`);
      writeFileSync(path, line("stderr", "first-of-new\n", 4));
      expect(tail.read().map((e) => e.log)).toEqual(["last-of-old\n", "first-of-new\n"]);
      // max-file 1: the keeper truncates the file in place.
      truncateSync(path, 0);
      appendFileSync(path, line("stdout", "after-truncate, longer than what was read before\n", 5));
      expect(tail.read().map((e) => e.log)).toEqual(["after-truncate, longer than what was read before\n"]);
    } finally {
      tail.close();
    }
  });
});

describe("streams and keys", () => {
  test("multiplexed frames carry the stream and a big-endian size", () => {
    expect([...frame("stdout", Buffer.from("hi\n"))]).toEqual([1, 0, 0, 0, 0, 0, 0, 3, 104, 105, 10]);
    expect(frame("stderr", new Uint8Array(300)).subarray(0, 8)).toEqual(Uint8Array.from([2, 0, 0, 0, 0, 0, 1, 44]));
  });

  test("detach keys: ctrl-p ctrl-q detaches, a broken sequence is forwarded", () => {
    expect([...parseDetachKeys("ctrl-p,ctrl-q")]).toEqual([16, 17]);
    expect(() => parseDetachKeys("ctrl-")).toThrow("Invalid detach keys");
    const s = new DetachScanner(parseDetachKeys("ctrl-p,ctrl-q"));
    expect(s.push(Uint8Array.from([97, 16]))).toEqual({ forward: Uint8Array.from([97]), detach: false });
    expect(s.push(Uint8Array.from([98]))).toEqual({ forward: Uint8Array.from([16, 98]), detach: false });
    expect(s.push(Uint8Array.from([16, 17, 99]))).toEqual({ forward: Uint8Array.from([]), detach: true });
  });
});

describe("lists, status and restart policies", () => {
  const record = (name: string, status: ContainerRecord["state"]["Status"], extra: Partial<ContainerRecord["state"]> = {}, created = "2026-01-01T00:00:00.000000000Z"): ContainerRecord => ({
    id: name.padEnd(64, "0"),
    name,
    created,
    imageId: "sha256:img",
    config: mergeConfig({ Image: "busybox", Cmd: ["true"], Labels: { tier: name } }, {}, name),
    hostConfig: normalizeHostConfig({}, HOST, []),
    state: { ...initialState(), Status: status, Running: status === "running" || status === "paused", Paused: status === "paused", ...extra },
    restartCount: 0,
    manuallyStopped: false,
    networkSettings: emptyNetworkSettings(),
    networkingConfig: {},
    mounts: [],
  });
  const all = [record("aaa", "running"), record("bbb", "exited", { ExitCode: 3 }), record("ccc", "created"), record("ddd", "paused")];
  const ctx = { imageIdsOf: () => ["sha256:img"], find: (ref: string) => all.find((c) => c.name === ref) ?? null, mountsOf: () => [] };
  const names = (q: { all?: boolean; limit?: number; filters?: Record<string, string[]> }) =>
    selectContainers(all, { all: q.all ?? false, limit: q.limit ?? -1, filters: new Map(Object.entries(q.filters ?? {})) }, ctx).map((c) => c.name);

  test("filters", () => {
    expect(names({})).toEqual(["aaa", "ddd"]);
    expect(names({ all: true })).toHaveLength(4);
    expect(names({ filters: { status: ["exited"] } })).toEqual(["bbb"]);
    expect(names({ filters: { exited: ["3"] } })).toEqual(["bbb"]);
    expect(names({ all: true, filters: { name: ["^c"] } })).toEqual(["ccc"]);
    expect(names({ all: true, filters: { label: ["tier=ddd"] } })).toEqual(["ddd"]);
    expect(names({ all: true, filters: { id: ["bbb"] } })).toEqual(["bbb"]);
    expect(names({ limit: 2 })).toEqual(["aaa", "bbb"]);
    expect(() => names({ filters: { bogus: ["1"] } })).toThrow("invalid filter");
  });

  test("status text", () => {
    const now = Date.parse("2026-01-01T00:01:00Z");
    expect(statusText(record("x", "running", { StartedAt: "2026-01-01T00:00:58Z" }), now)).toBe("Up 2 seconds");
    expect(statusText(record("x", "paused", { StartedAt: "2026-01-01T00:00:00Z" }), now)).toBe("Up About a minute (Paused)");
    expect(statusText(record("x", "exited", { ExitCode: 3, FinishedAt: "2026-01-01T00:00:55Z" }), now)).toBe("Exited (3) 5 seconds ago");
    expect(statusText(record("x", "created"), now)).toBe("Created");
  });

  test("the list body is summaryView's JSON, sizes included when asked", async () => {
    const odd = record('odd "name" \u00e9', "exited", { ExitCode: 3, FinishedAt: "2020-01-01T00:00:00Z" });
    odd.config.Labels = { 'quote"d': "line\nbreak", emoji: "\u{1F433}" };
    odd.config.Cmd = ["sh", "-c", "echo 'hi'"];
    odd.networkSettings.Ports = { "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }], "53/udp": null };
    odd.mounts = [{ type: "volume", source: "data", target: "/data", readonly: false, propagation: "", nocopy: false, mode: "z", createSource: false, nonRecursive: false, listed: true }];
    const records = [odd, record("ccc", "created")];
    const mountsOf = (c: ContainerRecord) => mountPointsOf(c.mounts, (name) => `/volumes/${name}/_data`);
    const list = new SummaryList(mountsOf);
    expect(JSON.parse(await list.json(records))).toEqual(records.map((c) => summaryView(c, { mounts: mountsOf(c) })));
    const sizes = { rw: 12, rootFs: 34 };
    expect(JSON.parse(await list.json(records, async () => sizes))).toEqual(records.map((c) => summaryView(c, { mounts: mountsOf(c), sizes })));
    expect(await list.json([])).toBe("[]");
  });

  test("the store serves reads from memory: copies to change, frozen records replaced on each write", async () => {
    const db = openStore(":memory:");
    try {
      const store = new ContainerStore(db);
      const list = new SummaryList(() => []);
      const listed = async () => JSON.parse(await list.json(store.snapshot())) as { Names: string[]; State: string }[];
      const a = record("aaa", "created", {}, "2026-01-01T00:00:01.000000000Z");
      store.insert(a);
      store.insert(record("bbb", "created", {}, "2026-01-01T00:00:02.000000000Z"));
      expect(store.snapshot().map((c) => c.name)).toEqual(["bbb", "aaa"]);
      expect(store.idByName("aaa")).toBe(a.id);
      expect(store.idsByPrefix("aaa")).toEqual([a.id]);
      expect(store.idsUsingImage("sha256:img")).toHaveLength(2);

      // What a caller holds is its own: changing it changes nothing stored until it is saved.
      a.state.Status = "running";
      const copy = store.get(a.id)!;
      copy.state.Status = "paused";
      expect(store.get(a.id)!.state.Status).toBe("created");
      const before = store.snapshot()[1]!;
      expect(Object.isFrozen(before.state)).toBe(true);
      expect(() => ((before.state as { Status: string }).Status = "dead")).toThrow();

      copy.state.Status = "running";
      store.saveState(copy);
      const after = store.snapshot()[1]!;
      expect(after).not.toBe(before);
      expect(after.state.Status).toBe("running");
      store.saveHealth(a.id, { Status: "healthy", FailingStreak: 0, Log: [] });
      expect(store.get(a.id)!.state.Health?.Status).toBe("healthy");
      store.rename(a.id, "renamed");
      expect([store.idByName("aaa"), store.idByName("renamed")]).toEqual([null, a.id]);
      expect(await listed()).toMatchObject([{ Names: ["/bbb"] }, { Names: ["/renamed"], State: "running" }]);

      // A store opened on the same database later sees what was written.
      expect(new ContainerStore(db).all()).toEqual(store.all());
      store.delete(a.id);
      expect(store.get(a.id)).toBeNull();
      expect(store.idByName("renamed")).toBeNull();
      expect((await listed()).map((c) => c.Names[0])).toEqual(["/bbb"]);
    } finally {
      db.close();
    }
  });

  test("restart decisions and back-off", () => {
    const onFailure = { Name: "on-failure" as const, MaximumRetryCount: 2 };
    expect(shouldRestart(onFailure, 1, 1, false)).toBe(true);
    expect(shouldRestart(onFailure, 1, 2, false)).toBe(false);
    expect(shouldRestart(onFailure, 0, 0, false)).toBe(false);
    expect(shouldRestart({ Name: "always", MaximumRetryCount: 0 }, 0, 9, false)).toBe(true);
    expect(shouldRestart({ Name: "unless-stopped", MaximumRetryCount: 0 }, 0, 0, true)).toBe(false);
    const b = new Backoff();
    expect([b.next(0), b.next(0), b.next(0), b.next(20_000)]).toEqual([100, 200, 400, 100]);
  });
});

describe("CLI flags", () => {
  test("flags stop at the image; -it combines; values inline or next; lists repeat", () => {
    const { flags, rest } = parseFlags(["-it", "--rm", "-e", "A=1", "-eB=2", "--name=x", "-m", "64m", "busybox", "sh", "-c", "exit 3"], CREATE_FLAGS, true);
    expect(flags).toMatchObject({ interactive: true, tty: true, rm: true, env: ["A=1", "B=2"], name: "x", memory: "64m" });
    expect(rest).toEqual(["busybox", "sh", "-c", "exit 3"]);
    expect(() => parseFlags(["--nope", "busybox"], CREATE_FLAGS, true)).toThrow("unknown flag: --nope");
    expect(argsAfterCommand(["bun", "main", "-H", "unix:///x", "run", "-d", "busybox"], "run")).toEqual(["-d", "busybox"]);
  });

  test("create body as the docker CLI builds it", () => {
    const { flags, rest } = parseFlags(["-i", "--restart", "on-failure:3", "-p", "127.0.0.1:8080:80", "--cpus", "1.5", "--tmpfs", "/run:size=1m", "busybox", "cat"], CREATE_FLAGS, true);
    const { body, attachStdin } = createBody(flags, rest[0]!, rest.slice(1), false, [24, 80]);
    expect(attachStdin).toBe(true);
    expect(body).toMatchObject({ OpenStdin: true, StdinOnce: true, AttachStdin: true, Cmd: ["cat"], Image: "busybox", ExposedPorts: { "80/tcp": {} } });
    expect(body.HostConfig).toMatchObject({ RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 }, NanoCpus: 1.5e9, PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: "8080" }] }, Tmpfs: { "/run": "size=1m" }, ConsoleSize: [0, 0] });
    expect([ramInBytes("64m"), ramInBytes("1g"), ramInBytes("512")]).toEqual([67108864, 1073741824, 512]);
  });

  test("display helpers", () => {
    expect(bytesSize(331776)).toBe("324KiB");
    expect(bytesSize(25276510208)).toBe("23.54GiB");
    expect(timestampArg("10s", 1_000_000_000)).toBe("999990.000000000");
    expect(timestampArg("2026-01-01T00:00:00Z")).toBe("2026-01-01T00:00:00Z");
  });
});
