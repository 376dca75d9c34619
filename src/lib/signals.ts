/**
 * SIGINT/SIGTERM for ephemeral engines: a CI job cancelled mid-run must still leave the host clean, so the
 * first of these signals closes every such engine of the process and then ends it (128 + signal number, as a
 * shell reports a process killed by it). The handlers are installed while at least one engine wants them.
 */
const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;
type HandledSignal = keyof typeof SIGNAL_NUMBERS;

interface Closable {
  close(): Promise<void>;
}

const engines = new Set<Closable>();
let tearingDown = false;

function onSignal(signal: HandledSignal): void {
  if (tearingDown) return;
  tearingDown = true;
  void Promise.allSettled([...engines].map((e) => e.close())).then(() => process.exit(128 + SIGNAL_NUMBERS[signal]));
}

const handlers: Record<HandledSignal, () => void> = { SIGINT: () => onSignal("SIGINT"), SIGTERM: () => onSignal("SIGTERM") };

/** Close `engine` when the process is told to stop; the returned function undoes that (once it is closed). */
export function closeOnSignals(engine: Closable): () => void {
  if (engines.size === 0) for (const signal of Object.keys(handlers) as HandledSignal[]) process.on(signal, handlers[signal]);
  engines.add(engine);
  return () => {
    // During a signal's teardown the handlers stay: a second Ctrl-C must not kill the process half way.
    if (!engines.delete(engine) || engines.size > 0 || tearingDown) return;
    for (const signal of Object.keys(handlers) as HandledSignal[]) process.off(signal, handlers[signal]);
  };
}
