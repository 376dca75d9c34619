/** `POST /containers/{id}/wait`: promises for a container's next exit and for its removal. */

export interface WaitResult {
  StatusCode: number;
  Error: { Message: string } | null;
}

type Resolve = (r: WaitResult) => void;

export class Waiters {
  private readonly exits = new Map<string, Set<Resolve>>();
  private readonly removals = new Map<string, Set<Resolve>>();

  nextExit(id: string, signal?: AbortSignal): Promise<WaitResult> {
    return this.add(this.exits, id, signal);
  }

  removal(id: string, signal?: AbortSignal): Promise<WaitResult> {
    return this.add(this.removals, id, signal);
  }

  exited(id: string, result: WaitResult): void {
    this.fire(this.exits, id, result);
  }

  removed(id: string, result: WaitResult): void {
    this.fire(this.exits, id, result);
    this.fire(this.removals, id, result);
  }

  private add(table: Map<string, Set<Resolve>>, id: string, signal?: AbortSignal): Promise<WaitResult> {
    return new Promise<WaitResult>((resolve, reject) => {
      let set = table.get(id);
      if (!set) table.set(id, (set = new Set()));
      const entry: Resolve = (r) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      const onAbort = () => {
        set.delete(entry);
        reject(signal?.reason ?? new Error("aborted"));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(entry);
    });
  }

  private fire(table: Map<string, Set<Resolve>>, id: string, result: WaitResult): void {
    const set = table.get(id);
    table.delete(id);
    for (const resolve of set ?? []) resolve(result);
  }
}
