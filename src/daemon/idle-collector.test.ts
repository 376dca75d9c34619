import { describe, expect, test } from "bun:test";
import { IdleCollector } from "./idle-collector";

const QUIET_MS = 150;

describe("IdleCollector", () => {
  test("collects once after a burst of activity, when the quiet time has passed", async () => {
    let collections = 0;
    const idle = new IdleCollector(QUIET_MS, () => collections++);
    for (let i = 0; i < 5; i++) {
      idle.activity();
      await Bun.sleep(QUIET_MS / 4);
    }
    expect(collections).toBe(0);
    await Bun.sleep(QUIET_MS * 2);
    expect(collections).toBe(1);
    await Bun.sleep(QUIET_MS * 2);
    expect(collections).toBe(1);
    idle.stop();
  });

  test("each later burst gets its own collection", async () => {
    let collections = 0;
    const idle = new IdleCollector(QUIET_MS, () => collections++);
    idle.activity();
    await Bun.sleep(QUIET_MS * 2);
    idle.activity();
    await Bun.sleep(QUIET_MS * 2);
    expect(collections).toBe(2);
    idle.stop();
  });

  test("nothing is collected once stopped, whatever happens after", async () => {
    let collections = 0;
    const idle = new IdleCollector(QUIET_MS, () => collections++);
    idle.activity();
    idle.stop();
    idle.activity();
    await Bun.sleep(QUIET_MS * 2);
    expect(collections).toBe(0);
  });
});
