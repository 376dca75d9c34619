/** `bun run bench/bench.ts --quick` runs to the end and writes well-formed results. Speeds are not asserted. */
import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResults } from "../bench/report.ts";
import type { Summary } from "../bench/types.ts";

const ROOT = join(import.meta.dir, "..");

/** A growth (memory per container) may be measured as zero or below when the engine gives memory back meanwhile. */
function expectPositiveSummary(summary: Summary, where: string, growth = false): void {
  for (const value of [summary.median, summary.p95]) {
    expect(Number.isFinite(value) && (growth || value > 0), `${where}: ${JSON.stringify(summary)}`).toBe(true);
  }
  expect(Number.isInteger(summary.n) && summary.n > 0, where).toBe(true);
}

test("bench --quick (no Docker) exits 0 and writes its results file", async () => {
  const started = Date.now();
  // Not bench/results/latest.json: a benchmark someone runs meanwhile on this machine writes there.
  const out = mkdtempSync(join(tmpdir(), "bunker-bench-test-"));
  let results: BenchResults;
  try {
    const proc = Bun.spawn(["bun", "run", "bench/bench.ts", "--quick", "--without-docker", "--out", join(out, "results.json")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(exitCode, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toContain("GET /_ping, 16 clients: throughput");
    results = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as BenchResults;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }

  expect(Date.parse(results.startedAt)).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
  expect(results.quick).toBe(true);
  expect(results.engines.bunker).toMatch(/^bunker /);
  expect(results.engines.peer).toBeNull();
  expect(results.engines.peerUnavailable).toContain("turned off");

  expect(results.cases.map((c) => c.name)).toEqual([
    "http", "memory", "list", "containers", "floors", "network", "keeper", "pull", "extract", "sha256", "diff-compare",
  ]);
  for (const benchCase of results.cases) {
    expect(benchCase.error, benchCase.name).toBeUndefined();
    expect(benchCase.figures.length, benchCase.name).toBeGreaterThan(0);
    for (const figure of benchCase.figures) {
      const where = `${benchCase.name} / ${figure.name}`;
      expect(figure.unit.length, where).toBeGreaterThan(0);
      expect(["higher", "lower"]).toContain(figure.better);
      expectPositiveSummary(figure.bunker, where, figure.name.includes("per running container"));
      if (figure.peer) {
        expectPositiveSummary(figure.peer, `${where} (peer)`);
        expect(figure.ratio! > 0, where).toBe(true);
      }
    }
  }

  const http = results.cases.find((c) => c.name === "http")!.figures.map((f) => f.name);
  for (const request of ["GET /_ping", "GET /version"]) {
    for (const clients of ["1 client", "16 clients"]) {
      expect(http).toContain(`${request}, ${clients}: throughput`);
      expect(http).toContain(`${request}, ${clients}: latency`);
    }
  }
  const list = results.cases.find((c) => c.name === "list")!.figures.map((f) => f.name);
  for (const clients of ["1 client", "16 clients"]) {
    expect(list).toContain(`GET /containers/json?all=1 (100 containers), ${clients}: throughput`);
  }
  const memory = results.cases.find((c) => c.name === "memory")!.figures.map((f) => f.name);
  expect(memory.some((name) => name.startsWith("idle engine RSS"))).toBe(true);
  const floors = results.cases.find((c) => c.name === "floors")!.figures.map((f) => f.name);
  expect(floors).toContain("runtime floor: unshare -fpmnui --mount-proc true");
  for (const figure of results.cases.find((c) => c.name === "extract")!.figures) expect(figure.peer?.name).toBe("GNU tar");
  for (const name of ["sha256", "diff-compare"]) {
    const [figure] = results.cases.find((c) => c.name === name)!.figures;
    expect(figure!.peer?.name).toBe("wasm");
  }
}, 600_000);
