/**
 * Hands back the memory a burst of work leaves behind once the daemon goes quiet. JSC collects when allocation
 * asks for it, so a daemon that stops being asked things keeps the garbage of its last pull, build or `ps` (2 to
 * 4 MiB after a pull and a run) until Bun's own timer gets to it, about 30 s later. A full collection of this
 * heap takes 5 to 8 ms here, and this runs at most one per quiet period.
 */
export class IdleCollector {
  private lastActivity = 0;
  private timer: Timer | undefined;
  private stopped = false;

  constructor(
    /** How long nothing must have happened before collecting. */
    private readonly quietMs: number,
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** Something happened (a request, an event): collect once `quietMs` pass without another. Cheap per call. */
  activity(): void {
    this.lastActivity = performance.now();
    if (!this.timer && !this.stopped) this.arm(this.quietMs);
  }

  /** No collection from now on. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(() => this.fire(), delayMs);
    this.timer.unref();
  }

  private fire(): void {
    const quietFor = performance.now() - this.lastActivity;
    if (quietFor < this.quietMs) return this.arm(this.quietMs - quietFor);
    this.timer = undefined;
    this.collect();
  }
}
