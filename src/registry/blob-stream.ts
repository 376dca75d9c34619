/**
 * A blob download as one ReadableStream that survives dropped connections: when the body fails (or ends short, or
 * stalls), it asks again with `Range: bytes=<received>-` and carries on, up to a retry budget. The bytes are hashed
 * on the way through so a corrupted blob errors the stream instead of ending it cleanly.
 */
import { SystemError } from "../errors.ts";
import { DigestHasher } from "./digest.ts";
import { TransportError, describeTransportError } from "./http.ts";

export interface ResumableBlobOptions {
  /** Offset of the first byte wanted. */
  start: number;
  /** Total blob size if already known (from a descriptor); else taken from the first response. */
  size?: number;
  /**
   * Requests the blob from `offset` on (with a Range header when offset > 0). Resolves to a 200/206 response, throws a
   * typed error for other statuses, and TransportError when the request itself failed (which is retried).
   */
  open(offset: number, signal: AbortSignal): Promise<Response>;
  /** How many times in total the download may restart before the stream errors. */
  maxRetries: number;
  /** Whether a failure of the very first request is retried too (not for a mirror: the next endpoint is better). */
  retryFirstRequest: boolean;
  retryDelayMs: number;
  /** A connection that delivers nothing for this long counts as dropped. */
  stallTimeoutMs: number;
  /** Digest to verify at the end; ignored unless `start` is 0. */
  verifyDigest?: string;
  /** `blob sha256:… of 127.0.0.1:5000/busybox`, for messages. */
  description: string;
  /** The caller's abort: ends the download for good instead of resuming it. */
  signal?: AbortSignal;
}

export interface OpenedBlob {
  /** Bytes from `start` to the end of the blob. Read it once. */
  stream: ReadableStream<Uint8Array>;
  /** Total size of the blob (not of the remaining part), when the registry told it. */
  size: number | undefined;
}

/** The part of a body reader this module uses. */
interface BodyReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

/** The offset a 206 response starts at (`Content-Range: bytes 100-999/1000`), or undefined. */
function contentRangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Total size from a response: Content-Range's total for 206, Content-Length (the whole blob) for 200. */
function responseTotalSize(response: Response): number | undefined {
  if (response.status === 206) {
    const range = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
    return range?.[1] === undefined ? undefined : Number(range[1]);
  }
  const length = response.headers.get("content-length");
  return length === null ? undefined : Number(length);
}

/**
 * Opens the blob (so a missing blob or refused credentials throw here, not mid-stream) and returns the resuming
 * stream over it.
 */
export async function openResumableBlob(options: ResumableBlobOptions): Promise<OpenedBlob> {
  const hasher =
    options.verifyDigest !== undefined && options.start === 0 ? DigestHasher.for(options.verifyDigest) : undefined;
  let position = options.start;
  let size = options.size;
  let retries = 0;
  /** Bytes still to drop because the server answered a range request with the whole blob. */
  let skip = 0;
  let attempt = new AbortController();
  let stallTimer: Timer | undefined;
  let cancelled = false;

  const clearStall = () => {
    if (stallTimer !== undefined) clearTimeout(stallTimer);
    stallTimer = undefined;
  };
  const armStall = () => {
    clearStall();
    const current = attempt;
    stallTimer = setTimeout(
      () => current.abort(new TransportError(`no data received for ${options.stallTimeoutMs} ms`)),
      options.stallTimeoutMs,
    );
  };
  const giveUp = (cause: unknown) =>
    new SystemError(
      `failed to download ${options.description}: connection lost at byte ${position}` +
        `${size !== undefined ? ` of ${size}` : ""}, gave up after ${options.maxRetries} retries: ` +
        describeTransportError(cause),
      { cause },
    );

  /** One request from `position`, retrying transport failures; leaves `skip` set for a 200 answer. */
  const request = async (): Promise<BodyReader> => {
    for (;;) {
      attempt = new AbortController();
      armStall();
      let response: Response;
      try {
        response = await options.open(position, attempt.signal);
      } catch (err) {
        if (!(err instanceof TransportError) || cancelled || (!started && !options.retryFirstRequest)) throw err;
        await backOff(err);
        continue;
      } finally {
        clearStall();
      }
      if (response.status === 206) {
        if (contentRangeStart(response) !== position) {
          void response.body?.cancel();
          throw new SystemError(`failed to download ${options.description}: registry answered with the wrong range`);
        }
        skip = 0;
      } else {
        skip = position;
      }
      size ??= responseTotalSize(response);
      if (!response.body) throw new SystemError(`failed to download ${options.description}: response has no body`);
      const reader: BodyReader = response.body.getReader();
      return reader;
    }
  };
  const backOff = async (cause: unknown) => {
    options.signal?.throwIfAborted();
    retries++;
    if (retries > options.maxRetries) throw giveUp(cause);
    await Bun.sleep(options.retryDelayMs * retries);
  };

  let started = false;
  let reader = await request();
  started = true;

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        for (;;) {
          let chunk: Awaited<ReturnType<BodyReader["read"]>>;
          armStall();
          try {
            chunk = await reader.read();
          } catch (err) {
            if (cancelled) return;
            void reader.cancel().catch(() => undefined);
            await backOff(err);
            reader = await request();
            continue;
          } finally {
            clearStall();
          }
          if (chunk.done) {
            if (size !== undefined && position < size) {
              await backOff(new TransportError(`body ended after ${position} of ${size} bytes`));
              reader = await request();
              continue;
            }
            finish(controller);
            return;
          }
          let bytes = chunk.value;
          if (skip > 0) {
            const dropped = Math.min(skip, bytes.byteLength);
            skip -= dropped;
            bytes = bytes.subarray(dropped);
            if (bytes.byteLength === 0) continue;
          }
          if (size !== undefined && position + bytes.byteLength > size) {
            throw new SystemError(`failed to download ${options.description}: more data than its size ${size}`);
          }
          position += bytes.byteLength;
          hasher?.update(bytes);
          controller.enqueue(bytes);
          return;
        }
      },
      cancel(reason) {
        cancelled = true;
        clearStall();
        attempt.abort(reason);
        return reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );

  function finish(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (hasher && options.verifyDigest !== undefined) {
      const actual = hasher.digest();
      if (actual !== options.verifyDigest) {
        controller.error(
          new SystemError(
            `failed to download ${options.description}: filesystem layer verification failed, got digest ${actual}`,
          ),
        );
        return;
      }
    }
    controller.close();
  }

  return { stream, size };
}
