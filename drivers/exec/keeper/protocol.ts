/**
 * The keeper protocol's messages (see native/protocol.c): requests are NUL-separated fields (tag, op,
 * arguments, then a launch config blob for run/exec); replies are "<tag> ok …" / "<tag> err <code> <detail>"
 * / "<tag> err launch <error record>"; events are "exit <id> <wait status> <finished ns>".
 */
import { close } from "../../libc/libc";
import { launchErrorFromRecord, ERROR_RECORD_SIZE } from "../errors";
import type { ExitStatus } from "../exit-watcher";

/** The keeper answered "err <code> …": not-found, exists, bad-state, not-running, busy, full, unknown-op, ... */
export class KeeperError extends Error {
  override name = "KeeperError";
  constructor(
    readonly code: string,
    readonly detail: string,
    op: string,
  ) {
    super(`keeper ${op}: ${code}${detail ? ` ${detail}` : ""}`);
  }
}

/** The connection to the keeper is gone (it exited, or dropped us for not reading). */
export class KeeperConnectionError extends Error {
  override name = "KeeperConnectionError";
}

export interface Reply {
  /** Everything after "<tag> ok" (trimmed of the separating space). */
  text: string;
  fds: number[];
}

export interface KeeperHello {
  proto: number;
  minproto: number;
  pid: number;
  /** Wall clock at keeper start, in ns since the epoch. */
  startedNs: bigint;
  build: string;
  records: number;
  running: number;
  slimmed: boolean;
}

export type RecordState = "created" | "starting" | "running" | "exited";

export interface KeeperRecord {
  id: string;
  kind: "container" | "exec";
  /** In the keeper's (and the daemon's) pid namespace. */
  pid: number;
  state: RecordState;
  /** Set once the process exited. */
  exit: ExitStatus | null;
  /** ns since the epoch; 0n when not started (or not finished). */
  startedNs: bigint;
  finishedNs: bigint;
  /** For an exec process: the container it runs in. */
  parent: string | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRequest(tag: number, fields: string[], blob?: Uint8Array): Uint8Array {
  for (const f of fields) if (f.includes("\0")) throw new KeeperError("bad-request", "a field contains NUL", fields[0] ?? "");
  const head = encoder.encode([String(tag), ...fields].join("\0") + "\0");
  if (!blob) return head;
  const out = new Uint8Array(head.length + blob.length);
  out.set(head);
  out.set(blob, head.length);
  return out;
}

export type Incoming =
  | { kind: "reply"; tag: number; reply: Reply }
  | { kind: "error"; tag: number; error: Error }
  | { kind: "exit"; id: string; status: ExitStatus; finishedNs: bigint };

/** Decode one message from the keeper; `op` names the request for error messages. */
export function decodeMessage(bytes: Uint8Array, fds: number[], opOfTag: (tag: number) => string): Incoming {
  const space = bytes.indexOf(0x20);
  const first = decoder.decode(bytes.subarray(0, space < 0 ? bytes.length : space));
  if (first === "exit") {
    const [, id, status, finished] = decoder.decode(bytes).split(" ");
    return { kind: "exit", id: id ?? "", status: exitStatusOf(Number(status)), finishedNs: BigInt(finished ?? "0") };
  }
  const tag = Number(first);
  const rest = bytes.subarray(space + 1);
  const launchPrefix = encoder.encode("err launch ");
  if (rest.length === launchPrefix.length + ERROR_RECORD_SIZE && launchPrefix.every((b, i) => rest[i] === b))
    return { kind: "error", tag, error: launchErrorFromRecord(rest.slice(launchPrefix.length)) };
  const text = decoder.decode(rest);
  if (text.startsWith("err ")) {
    const [code = "", ...detail] = text.slice(4).split(" ");
    for (const fd of fds) closeQuietly(fd);
    return { kind: "error", tag, error: new KeeperError(code, detail.join(" "), opOfTag(tag)) };
  }
  return { kind: "reply", tag, reply: { text: text.replace(/^ok ?/, ""), fds } };
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // already closed
  }
}

/** A raw wait status as docker reports it: the exit code, or 128 + the signal. */
export function exitStatusOf(status: number): ExitStatus {
  const signal = status & 0x7f;
  return signal === 0 ? { exitCode: (status >> 8) & 0xff, signal: null } : { exitCode: 128 + signal, signal };
}

/** "bunker-keeper proto=1 minproto=1 pid=… started=… build=… records=… running=… slim=…" */
export function parseHello(text: string): KeeperHello {
  const words = text.split(" ");
  if (words[0] !== "bunker-keeper") throw new KeeperConnectionError(`not a keeper: ${JSON.stringify(text.slice(0, 80))}`);
  const field = (name: string) => words.find((w) => w.startsWith(`${name}=`))?.slice(name.length + 1) ?? "";
  return {
    proto: Number(field("proto")),
    minproto: Number(field("minproto")),
    pid: Number(field("pid")),
    startedNs: BigInt(field("started") || "0"),
    build: field("build"),
    records: Number(field("records")),
    running: Number(field("running")),
    slimmed: field("slim") === "1",
  };
}

/** "<n>\n" then "id kind pid state status started finished parent|-" per line. */
export function parseList(text: string): KeeperRecord[] {
  return text
    .split("\n")
    .slice(1)
    .filter(Boolean)
    .flatMap((line) => {
      const [id = "", kind, pid, state, status, started, finished, parent] = line.split(" ");
      // A failed start is gone as soon as it is reaped; nothing to adopt.
      if (state === "failed") return [];
      return [
        {
          id,
          kind: kind === "exec" ? "exec" : "container",
          pid: Number(pid),
          state: state as RecordState,
          exit: state === "exited" ? exitStatusOf(Number(status)) : null,
          startedNs: BigInt(started ?? "0"),
          finishedNs: BigInt(finished ?? "0"),
          parent: parent && parent !== "-" ? parent : null,
        } satisfies KeeperRecord,
      ];
    });
}
