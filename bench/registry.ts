/** A local registry holding the fixture images (the large one included), started once per bench run. */
import { pushFixtures, type FixtureInfo } from "../test/fixtures/images.ts";
import { startRegistry } from "../test/fixtures/registry.ts";

let started: Promise<{ info: FixtureInfo; stop(): Promise<void> }> | undefined;

export function benchRegistry(): Promise<{ info: FixtureInfo; stop(): Promise<void> }> {
  started ??= (async () => {
    const registry = await startRegistry();
    try {
      const info = await pushFixtures(registry.url, { large: true });
      return { info, stop: () => registry.stop() };
    } catch (error) {
      await registry.stop();
      throw error;
    }
  })();
  return started;
}

export async function stopBenchRegistry(): Promise<void> {
  if (!started) return;
  const s = await started.catch(() => null);
  await s?.stop();
}
