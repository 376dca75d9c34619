/** The shapes every benchmark case shares: what a case receives and the figures it returns. */

export interface Summary {
  median: number;
  p95: number;
  /** Number of samples behind median and p95. */
  n: number;
}

export interface Figure {
  name: string;
  unit: string;
  /** Whether a larger number is better (req/s, MB/s) or a smaller one (ms). */
  better: "higher" | "lower";
  bunker: Summary;
  peer?: Summary & { name: string };
  /** How many times better Bunker's median is than the peer's: above 1 means Bunker wins. */
  ratio?: number;
  /** Something the reader should know, e.g. why the peer has no figure. */
  note?: string;
}

/** A running engine a case can talk to. */
export interface Engine {
  /** e.g. "bunker 0.1.0", "docker 20.10.24" */
  name: string;
  socket: string;
  /** The engine's own processes (daemon and its helpers, not the containers' processes), for the memory figures. */
  processes?(): number[];
}

export interface BenchContext {
  quick: boolean;
  /** Whether the run may install the Debian packages a comparison needs (--with-docker / BENCH_DOCKER=1). */
  mayInstall: boolean;
  log(message: string): void;
  /** The Bunker daemon from dist/bunker, started on first use and shared by all cases. */
  bunker(): Promise<Engine>;
  /** The Docker engine to compare with, started on first use; null when there is none (the reason is logged). */
  peer(): Promise<Engine | null>;
}

export interface BenchCase {
  /** Short id, used in the table and in latest.json. */
  name: string;
  run(context: BenchContext): Promise<Figure[]>;
}
