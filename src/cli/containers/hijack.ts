/**
 * The client side of docker's hijacked connections (attach, exec start): send the request with
 * `Upgrade: tcp`, read the `101 UPGRADED` head, then the socket is a byte pipe — our stdin out, the container's
 * output in. Half-closing our side tells the daemon stdin ended; the daemon closes when the process is done.
 */
import type { Socket } from "bun";
import { DaemonError, type Client, type Query } from "../../client/client";

export interface HijackedStream {
  /** Everything the daemon sends after the 101 head. */
  readonly output: ReadableStream<Uint8Array>;
  write(data: Uint8Array): Promise<void>;
  /** No more input: shutdown(SHUT_WR). */
  closeWrite(): void;
  close(): void;
}

interface Pending {
  data: Uint8Array;
  resolve: () => void;
}

export async function hijack(client: Client, path: string, query: Query, body?: unknown): Promise<HijackedStream> {
  const target = await client.versionedPath(path, query);
  const payload = body === undefined ? "" : JSON.stringify(body);
  const head =
    `POST ${target} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Bunker-Client\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n` +
    `Content-Type: ${body === undefined ? "text/plain" : "application/json"}\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`;

  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const output = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  let headBuf = Buffer.alloc(0);
  let headDone = false;
  /** An error answer (404, 409...) instead of the upgrade: its status and how much body it announced. */
  let errorAnswer: { status: number; length: number } | null = null;
  let settleHead!: (err: Error | null) => void;
  const headSeen = new Promise<Error | null>((r) => (settleHead = r));
  const queue: Pending[] = [];
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    if (errorAnswer) settleHead(errorFrom(errorAnswer.status, headBuf));
    else if (!headDone) settleHead(new Error("the daemon closed the connection before answering"));
    try {
      controller.close();
    } catch {}
    for (const p of queue.splice(0)) p.resolve();
  };
  const flush = (socket: Socket<undefined>) => {
    while (queue.length > 0) {
      const p = queue[0]!;
      const n = socket.write(p.data);
      if (n < p.data.byteLength) {
        p.data = p.data.subarray(Math.max(n, 0));
        return;
      }
      queue.shift();
      p.resolve();
    }
  };

  const endpoint = client.endpoint;
  const handlers = {
    data(_s: Socket<undefined>, chunk: Uint8Array) {
      if (errorAnswer) {
        headBuf = Buffer.concat([headBuf, chunk]);
        if (headBuf.length >= errorAnswer.length) settleHead(errorFrom(errorAnswer.status, headBuf));
        return;
      }
      if (headDone) {
        controller.enqueue(new Uint8Array(chunk));
        return;
      }
      headBuf = Buffer.concat([headBuf, chunk]);
      const end = headBuf.indexOf("\r\n\r\n");
      if (end < 0) return;
      headDone = true;
      const rest = headBuf.subarray(end + 4);
      const headText = headBuf.subarray(0, end).toString("latin1");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headText)?.[1] ?? 0);
      if (status === 101 || status === 200) {
        if (rest.length > 0) controller.enqueue(new Uint8Array(rest));
        settleHead(null);
        return;
      }
      errorAnswer = { status, length: Number(/^content-length:\s*(\d+)/im.exec(headText)?.[1] ?? 0) };
      headBuf = Buffer.from(rest);
      if (headBuf.length >= errorAnswer.length) settleHead(errorFrom(status, headBuf));
    },
    drain: (s: Socket<undefined>) => flush(s),
    end: finish,
    close: finish,
    error: finish,
  };
  const socket =
    "unix" in endpoint
      ? await Bun.connect({ unix: endpoint.unix, allowHalfOpen: true, socket: handlers })
      : await Bun.connect({ hostname: endpoint.hostname, port: endpoint.port, allowHalfOpen: true, socket: handlers });
  socket.write(head);
  const failure = await headSeen;
  if (failure) {
    socket.end();
    throw failure;
  }
  return {
    output,
    write(data) {
      if (ended) return Promise.resolve();
      return new Promise<void>((resolve) => {
        queue.push({ data, resolve });
        if (queue.length === 1) flush(socket);
      });
    },
    closeWrite() {
      if (!ended) socket.shutdown();
    },
    close() {
      socket.end();
    },
  };
}

function errorFrom(status: number, body: Buffer): Error {
  const text = body.toString("utf8");
  let message = text.trim();
  try {
    message = (JSON.parse(text.slice(text.indexOf("{"))) as { message?: string }).message ?? message;
  } catch {}
  return new DaemonError(status, message || `unexpected status ${status}`);
}
