/**
 * Healthchecks (`HEALTHCHECK` of the image, `--health-*` of run): while a container runs, its test command runs as
 * an exec in it every interval (every start interval during the start period), and `State.Health` keeps docker's
 * verdict — `starting` until the first success, `healthy` after a success, `unhealthy` after `retries` failures in
 * a row (failures inside the start period do not count before the first success) — with the last five results. A
 * change of status is a `health_status: <status>` event. Probes never overlap: the next is scheduled when the
 * previous one has ended (or timed out and been killed), and the checker ends with the container's run.
 */
import { InvalidParameterError } from "../errors";
import type { HealthConfig } from "../registry/types";
import { log } from "../util/log";
import { nowRfc3339 } from "./time";
import type { ContainerRecord, HealthLogEntry, HealthState } from "./types";

const NS_PER_MS = 1_000_000;
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_START_INTERVAL_MS = 5_000;
const DEFAULT_RETRIES = 3;
/** docker keeps this many results and this much of each one's output. */
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT_BYTES = 4096;
const MIN_DURATION_NS = 1_000_000;

export interface ProbeResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

export interface HealthMonitorDeps {
  /** Run the test in the container (ExecService.probe). */
  probe(containerId: string, cmd: string[], timeoutMs: number, maxOutput: number): Promise<ProbeResult>;
  /** Whether the container's processes are frozen (`docker pause`): no probe runs then. */
  paused(containerId: string): boolean;
  /** Persist the container's `State.Health`. */
  save(containerId: string, health: HealthState): void;
  /** Publish a container event. */
  publish(containerId: string, action: string): void;
}

interface Checker {
  config: Required<Pick<HealthConfig, "Interval" | "Timeout" | "StartPeriod" | "StartInterval" | "Retries">>;
  command: string[];
  startedAtMs: number;
  health: HealthState;
  timer: Timer | null;
  stopped: boolean;
}

/** The test command of a healthcheck, or null when there is none (unset, inherited-empty, or `NONE`). */
export function healthCommand(config: HealthConfig | undefined): string[] | null {
  const test = config?.Test ?? [];
  const [kind, ...rest] = test;
  if (kind === "CMD") return rest.length > 0 ? rest : null;
  if (kind === "CMD-SHELL") return rest.length > 0 ? ["/bin/sh", "-c", rest.join(" ")] : null;
  return null;
}

/** moby's checks of `Config.Healthcheck` at create. */
export function checkHealthConfig(config: HealthConfig | undefined): void {
  if (!config) return;
  const [kind] = config.Test ?? [];
  if (kind !== undefined && !["NONE", "CMD", "CMD-SHELL"].includes(kind)) throw new InvalidParameterError(`invalid healthcheck test: unknown type ${JSON.stringify(kind)}`);
  for (const [name, value] of [["Interval", config.Interval], ["Timeout", config.Timeout], ["StartPeriod", config.StartPeriod], ["StartInterval", config.StartInterval]] as const) {
    if (typeof value === "number" && value !== 0 && value < MIN_DURATION_NS) throw new InvalidParameterError(`${name} in Healthcheck cannot be less than 1ms`);
  }
  if (config.Retries !== undefined && config.Retries < 0) throw new InvalidParameterError("Retries in Healthcheck cannot be negative");
}

export class HealthMonitor {
  private readonly checkers = new Map<string, Checker>();

  constructor(private readonly deps: HealthMonitorDeps) {}

  /** A run of `c` began (or was adopted): check it from now on, starting from `starting`. */
  start(c: ContainerRecord, startedAtMs: number, adopted: boolean): void {
    this.stop(c.id);
    const command = healthCommand(c.config.Healthcheck);
    if (!command) return;
    const h = c.config.Healthcheck ?? {};
    const checker: Checker = {
      config: {
        Interval: msOr(h.Interval, DEFAULT_INTERVAL_MS),
        Timeout: msOr(h.Timeout, DEFAULT_TIMEOUT_MS),
        StartPeriod: msOr(h.StartPeriod, 0),
        StartInterval: msOr(h.StartInterval, DEFAULT_START_INTERVAL_MS),
        Retries: h.Retries && h.Retries > 0 ? h.Retries : DEFAULT_RETRIES,
      },
      command,
      startedAtMs,
      // An adopted container keeps what the previous daemon found.
      health: adopted && c.state.Health ? c.state.Health : { Status: "starting", FailingStreak: 0, Log: [] },
      timer: null,
      stopped: false,
    };
    this.checkers.set(c.id, checker);
    this.deps.save(c.id, checker.health);
    this.schedule(c.id, checker);
  }

  /** The run ended: no further probe; one in flight is not recorded. */
  stop(id: string): void {
    const checker = this.checkers.get(id);
    if (!checker) return;
    checker.stopped = true;
    if (checker.timer) clearTimeout(checker.timer);
    this.checkers.delete(id);
  }

  /** Daemon shutdown: every checker ends (a container left running gets a new one from the next daemon). */
  stopAll(): void {
    for (const id of [...this.checkers.keys()]) this.stop(id);
  }

  private schedule(id: string, checker: Checker): void {
    const inStartPeriod = checker.health.Status === "starting" && Date.now() - checker.startedAtMs < checker.config.StartPeriod;
    const delay = inStartPeriod ? checker.config.StartInterval : checker.config.Interval;
    checker.timer = setTimeout(() => {
      checker.timer = null;
      void this.probe(id, checker)
        .catch((err: unknown) => log.warn("healthcheck failed to run", { id, error: String(err) }))
        .finally(() => {
          if (!checker.stopped) this.schedule(id, checker);
        });
    }, delay);
  }

  private async probe(id: string, checker: Checker): Promise<void> {
    if (this.deps.paused(id)) return;
    const startMs = Date.now();
    const start = nowRfc3339();
    let result: ProbeResult;
    try {
      result = await this.deps.probe(id, checker.command, checker.config.Timeout, MAX_OUTPUT_BYTES);
    } catch (err) {
      if (checker.stopped) return;
      const exitCode = (err as { exitCode?: unknown }).exitCode;
      result = { exitCode: typeof exitCode === "number" ? exitCode : 126, output: err instanceof Error ? err.message : String(err), timedOut: false };
    }
    if (checker.stopped) return;
    const entry: HealthLogEntry = {
      Start: start,
      End: nowRfc3339(),
      ExitCode: result.timedOut ? -1 : result.exitCode,
      Output: result.timedOut ? `Health check exceeded timeout (${formatSeconds(checker.config.Timeout)})` : result.output,
    };
    const health = checker.health;
    const before = health.Status;
    if (entry.ExitCode === 0) {
      health.FailingStreak = 0;
      health.Status = "healthy";
    } else if (!(health.Status === "starting" && startMs - checker.startedAtMs < checker.config.StartPeriod)) {
      health.FailingStreak++;
      if (health.FailingStreak >= checker.config.Retries) health.Status = "unhealthy";
    }
    health.Log = [...health.Log, entry].slice(-MAX_LOG_ENTRIES);
    this.deps.save(id, health);
    if (health.Status !== before) this.deps.publish(id, `health_status: ${health.Status}`);
  }
}

function msOr(ns: number | undefined, fallbackMs: number): number {
  return ns && ns > 0 ? Math.max(1, Math.round(ns / NS_PER_MS)) : fallbackMs;
}

/** Go's Duration.String for whole and fractional seconds ("30s", "1.5s", "500ms"). */
function formatSeconds(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${ms / 1000}s`;
}
