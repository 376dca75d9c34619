import { newRouter, type ApiHono } from "../app";

/**
 * Routes for exercising the HTTP front end in tests (mounted only when BUNKER_TEST_ROUTES=1):
 * a streamed-upload digest, a hijacked echo, and an endless body that counts how many are still being produced.
 */
export function debugRoutes(): ApiHono {
  const r = newRouter();
  let endlessOpen = 0;
  r.get("/_bunker/endless", () => {
    endlessOpen++;
    const tick = new TextEncoder().encode("tick\n");
    let open = true;
    const close = () => {
      if (open) endlessOpen--;
      open = false;
    };
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await Bun.sleep(20);
        if (open) controller.enqueue(tick);
      },
      cancel: close,
    });
    return new Response(body, { headers: { "Content-Type": "text/plain" } });
  });
  r.get("/_bunker/endless/open", (c) => c.json({ open: endlessOpen }));
  r.post("/_bunker/upload", async (c) => {
    const hasher = new Bun.CryptoHasher("sha256");
    let bytes = 0;
    const body = c.req.raw.body;
    if (body) {
      for await (const chunk of body) {
        hasher.update(chunk);
        bytes += chunk.byteLength;
      }
    }
    return c.json({ bytes, sha256: hasher.digest("hex"), rss: process.memoryUsage.rss() });
  });
  r.post("/_bunker/echo", async (c) => {
    const conn = c.env.hijack("application/vnd.docker.raw-stream");
    const upper = c.req.query("upper") === "1";
    void (async () => {
      for await (const chunk of conn.input) {
        const text = new TextDecoder().decode(chunk);
        await conn.write(upper ? text.toUpperCase() : text);
      }
      // stdin ended (client half-closed): answer once more after a delay, then close, like a process exiting.
      await Bun.sleep(100);
      await conn.write("bye\n");
      await conn.end();
    })();
    return new Response(null);
  });
  return r;
}
