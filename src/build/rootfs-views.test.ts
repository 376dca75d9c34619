/** Read-only image views on a real overlay GraphDriver: reading through them, releasing them, and cleaning up after a crash. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGraphDriver } from "../../drivers/graph/index";
import type { GraphDriver } from "../../drivers/graph/types";
import type { ImageRecord } from "../images/types";
import { RootfsViews } from "./rootfs-views";

let work: string;
let driver: GraphDriver;
let image: ImageRecord;

const mounted = (dir: string) => readFileSync("/proc/self/mountinfo", "utf8").includes(` ${dir}/`);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "bunker-views-test-"));
  driver = createGraphDriver("overlay", join(work, "graph"));
  await driver.init();
  await driver.prepare("tmp-layer", null);
  writeFileSync(join(driver.diffDir("tmp-layer"), "hello.txt"), "hello\n");
  await driver.commit("layer-1", "tmp-layer");
  const config = { architecture: "amd64", os: "linux", rootfs: { type: "layers" as const, diff_ids: [] } };
  image = { id: "sha256:x", config, layers: ["layer-1"], topLayer: "layer-1", size: 0, created: "", repoTags: [], repoDigests: [], parent: "" };
});

afterAll(async () => {
  for (const s of driver.list().filter((s) => s.kind === "view")) await driver.remove(s.key).catch(() => {});
  await driver.remove("layer-1").catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

test("a view shows the image's files and goes away completely when released", async () => {
  const home = join(work, "views-a");
  const views = new RootfsViews(driver, home);
  views.unmountStale();
  const view = await views.open(image);
  expect(view.tree.readText("hello.txt", 100)).toBe("hello\n");
  expect(mounted(home)).toBe(true);
  await view.release();
  expect(mounted(home)).toBe(false);
  expect(readdirSync(home)).toEqual([]);
  expect(driver.list().some((s) => s.kind === "view")).toBe(false);

  const empty = await views.open(null);
  expect(empty.tree.readdir("")).toEqual([]);
  await empty.release();
  expect(readdirSync(home)).toEqual([]);
});

test("views left mounted by a daemon that died are unmounted and removed at the next start", async () => {
  const home = join(work, "views-b");
  const crashed = new RootfsViews(driver, home);
  crashed.unmountStale();
  const view = await crashed.open(image);
  view.tree.close();
  expect(mounted(home)).toBe(true);

  new RootfsViews(driver, home).unmountStale();
  expect(mounted(home)).toBe(false);
  expect(readdirSync(home)).toEqual([]);
  expect(existsSync(join(driver.diffDir("layer-1"), "hello.txt"))).toBe(true);
});
