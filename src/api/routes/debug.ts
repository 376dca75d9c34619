import { newRouter, type ApiHono } from "../app";

/**
 * Routes for exercising the HTTP front end in tests (mounted only when BUNKER_TEST_ROUTES=1):
 * a streamed-upload digest and a hijacked echo.
 */
export function debugRoutes(): ApiHono {
  const r = newRouter();
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
