/**
 * A connection taken over by a handler after `HTTP/1.1 101 UPGRADED` (attach, exec start): a full-duplex
 * byte pipe. `input` ends when the client half-closes (docker CLI: "no more stdin"), which is not the
 * client going away; `closed` settles when the connection is really gone.
 */
export interface HijackedConnection {
  readonly input: ReadableStream<Uint8Array>;
  write(data: Uint8Array | string): Promise<void>;
  /** End the connection from our side (the process finished). */
  end(): Promise<void>;
  readonly closed: Promise<void>;
  readonly isClosed: boolean;
}

/** What the front end passes to the Hono app as `env`. */
export interface ConnectionEnv {
  /**
   * Take over the connection. Writes `101 UPGRADED` when the client asked for `Upgrade: tcp`, otherwise a
   * `200 OK` streamed until the connection closes (what dockerd does for clients that do not upgrade).
   * The Response the handler then returns is ignored.
   */
  hijack(contentType: string): HijackedConnection;
}
