/**
 * Plays the daemon for test/keeper.test.ts in its own Bun process, so that the test can `kill -9` it and
 * start another one. Every result is one JSON line on stdout.
 *
 *   start STATE ROOTFS LOGDIR   start (or find) the keeper, run tick / cat (-i) / tty / exit7 (which ends with 7
 *                               once ROOTFS/EXIT7_GO exists), hold an attach fd and cat's stdin, print
 *                               {"ready":…}, then idle until killed
 *   adopt STATE                 connect, hello, list, then attach / stdin / tty on the survivors; print results
 *   churn STATE ROOTFS N SECS   plant a secret, start a keeper, run N `sleep` containers, print {"ready":…},
 *                               churn memory for SECS seconds (allocate/free, forced GC), print {"churned":…},
 *                               idle until killed
 */
import { readableFromFd } from "../../drivers/exec/stdio";
import { Keeper } from "../../drivers/exec/keeper/client";
import type { ContainerSpec } from "../../drivers/exec/spec";
import { writeFd, close } from "../../drivers/libc/libc";
import { SETTLE_TIMEOUT_MS } from "./wait";

// Docker's 14 default capabilities.
const DOCKER_CAPS = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31].reduce((m, n) => m | (1n << BigInt(n)), 0n);

/** The file (in the rootfs) whose appearance ends the exit7 container of `start`. */
export const EXIT7_GO = "go-exit7";

export function containerSpec(rootfs: string, args: string[], extra: Partial<ContainerSpec> = {}): ContainerSpec {
  return {
    rootfs,
    args,
    env: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    cwd: "/",
    hostname: "kept",
    capabilities: { effective: DOCKER_CAPS, permitted: DOCKER_CAPS, inheritable: 0n, bounding: DOCKER_CAPS },
    ...extra,
  };
}

function emit(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))}\n`);
}

/** Read from `fd` until `pattern` shows up (or the time is up); returns what was read. */
export async function readUntil(fd: number, pattern: RegExp, timeoutMs = SETTLE_TIMEOUT_MS): Promise<string> {
  const reader = readableFromFd(fd).getReader();
  const decoder = new TextDecoder();
  let text = "";
  const timer = setTimeout(() => void reader.cancel().catch(() => {}), timeoutMs);
  try {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return text;
}

async function start(state: string, rootfs: string, logDir: string): Promise<void> {
  const keeper = await Keeper.connectOrStart(state, { build: "test-daemon-1" });
  const log = (id: string) => ({ id, logPath: `${logDir}/${id}.log` });
  const tick = await keeper.run(containerSpec(rootfs, ["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"]), log("tick"));
  const cat = await keeper.run(containerSpec(rootfs, ["cat"], { openStdin: true }), log("cat"));
  const tty = await keeper.run(
    // The ticker shows the tty alive; a timed `read -t` could drop the first bytes of a line when it timed out mid-line.
    containerSpec(rootfs, ["sh", "-c", "(while :; do echo t; sleep 1; done) & while read line; do echo got:$line; done"], { tty: true, openStdin: true }),
    log("tty"),
  );
  const exit7 = await keeper.run(containerSpec(rootfs, ["sh", "-c", `while [ ! -e /${EXIT7_GO} ]; do sleep 0.1; done; exit 7`]), log("exit7"));
  // What a daemon holds while it runs: an attach fd and an open stdin. Its death must not disturb either container.
  const attached = await keeper.attach("tick");
  const catStdin = await keeper.stdin("cat");
  writeFd(catStdin, new TextEncoder().encode("before-crash\n"));
  emit({
    ready: true,
    keeperPid: keeper.pid,
    slimmed: keeper.info.slimmed,
    pids: { tick: tick.pid, cat: cat.pid, tty: tty.pid, exit7: exit7.pid },
    heldFds: [attached.stdout, attached.stderr, catStdin],
  });
  setInterval(() => {}, 1 << 30);
}

async function adopt(state: string): Promise<void> {
  const t0 = performance.now();
  const keeper = await Keeper.connectOrStart(state, { build: "test-daemon-2" });
  const records = await keeper.list();
  const adoptMs = performance.now() - t0;
  const hello = await keeper.hello();

  const tickOut = await keeper.attach("tick");
  const tickLive = await readUntil(tickOut.stdout, /tick \d+\n/);
  close(tickOut.stderr!);

  const catOut = await keeper.attach("cat", "lossless");
  const catIn = await keeper.stdin("cat");
  writeFd(catIn, new TextEncoder().encode("after-restart\n"));
  const catEcho = await readUntil(catOut.stdout, /after-restart\n/);
  close(catIn);
  close(catOut.stderr!);

  const ttyOut = await keeper.attach("tty");
  const ttyIn = await keeper.stdin("tty");
  writeFd(ttyIn, new TextEncoder().encode("ping\n"));
  const ttyAnswer = await readUntil(ttyOut.stdout, /got:ping/);
  close(ttyIn);

  const exit7 = await keeper.wait("exit7");
  emit({ adoptMs, hello, records, tickLive, catEcho, ttyAnswer, exit7 });
  keeper.close();
}

async function churn(state: string, rootfs: string, count: number, seconds: number): Promise<void> {
  // A credential the daemon holds when the keeper is forked (a string and a Buffer): the keeper must not keep it.
  const secret = `planted-secret-${crypto.randomUUID()}`;
  const held = [secret.repeat(1), Buffer.from(secret)];
  const keeper = await Keeper.connectOrStart(state, { build: "test-churn" });
  const pids: number[] = [];
  for (let i = 0; i < count; i++) pids.push((await keeper.run(containerSpec(rootfs, ["sleep", "1000"]), { id: `sleep${i}` })).pid);
  emit({ ready: true, keeperPid: keeper.pid, pids, secret, held: held.length });
  // The daemon's heap changes completely, again and again: a keeper sharing it copy-on-write would grow.
  const until = Date.now() + seconds * 1000;
  let kept: unknown[] = [];
  let rounds = 0;
  while (Date.now() < until) {
    kept = Array.from({ length: 20_000 }, (_, i) => ({ i, s: `secret-${i}-${rounds}`, b: new Uint8Array(256).fill(i) }));
    if (++rounds % 10 === 0) Bun.gc(true);
    await Bun.sleep(20);
  }
  emit({ churned: true, rounds, held: kept.length, rssMiB: Math.round(process.memoryUsage.rss() / 1048576) });
  setInterval(() => {}, 1 << 30);
}

if (import.meta.main) {
  const [mode, ...args] = process.argv.slice(2);
  const run = mode === "start" ? start(args[0]!, args[1]!, args[2]!) : mode === "adopt" ? adopt(args[0]!) : mode === "churn" ? churn(args[0]!, args[1]!, Number(args[2]), Number(args[3])) : Promise.reject(new Error(`unknown mode ${mode}`));
  run.catch((e) => {
    emit({ error: String(e?.stack ?? e) });
    process.exit(1);
  });
}
