import { messageOf } from "../errors";
import { errorResponse } from "./app";
import type { JobOutput } from "../engine/jobs";

/**
 * A JSON-lines response fed by a job (pull, push, load, build). Errors before the first byte become a
 * normal error response; after that they are sent in-band as `errorDetail`, as dockerd does.
 */
export async function jsonLinesResponse(run: (out: JobOutput) => Promise<void>, signal?: AbortSignal): Promise<Response> {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let started = false;
  let resolveFirst!: (r: Response | null) => void;
  const first = new Promise<Response | null>((r) => (resolveFirst = r));
  const body = new ReadableStream<Uint8Array>({
    start: (c) => {
      controller = c;
    },
  });
  const out: JobOutput = {
    write: async (data) => {
      if (!started) {
        started = true;
        resolveFirst(null);
      }
      try {
        controller.enqueue(typeof data === "string" ? encoder.encode(data) : data);
      } catch {
        // client went away; the job notices through its AbortSignal
      }
    },
  };
  void run(out)
    .catch((err) => {
      if (!started) {
        resolveFirst(errorResponse(err));
        return;
      }
      const message = messageOf(err);
      controller.enqueue(encoder.encode(JSON.stringify({ errorDetail: { message }, error: message }) + "\n"));
    })
    .finally(() => {
      if (!started) resolveFirst(new Response(null, { status: 200, headers: { "Content-Type": "application/json" } }));
      try {
        controller.close();
      } catch {}
    });
  signal?.addEventListener("abort", () => {
    try {
      controller.close();
    } catch {}
  });
  const early = await first;
  if (early) return early;
  return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
}
