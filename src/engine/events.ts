/**
 * The event bus behind `GET /events`: Docker-shaped events kept in a bounded history (for `since`) and
 * fanned out to live subscribers.
 */
export type EventType = "container" | "image" | "volume" | "network" | "daemon" | "plugin" | "node" | "service" | "secret" | "config" | "builder";

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: "local";
  time: number;
  timeNano: number;
  /** Deprecated fields docker still sends for container events; kept for older clients. */
  status?: string;
  id?: string;
  from?: string;
}

export type EventListener = (event: EngineEvent) => void;

const HISTORY = 1024;

export class EventBus {
  private history: EngineEvent[] = [];
  private listeners = new Set<EventListener>();

  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    const nowNs = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(performance.now() * 1000) % 1000) * 1000n;
    const event: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: "local",
      time: Number(nowNs / 1_000_000_000n),
      timeNano: Number(nowNs),
    };
    if (type === "container" || type === "image") {
      event.status = action;
      event.id = id;
      if (attributes.image) event.from = attributes.image;
    }
    this.history.push(event);
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    for (const l of this.listeners) l(event);
    return event;
  }

  /** Events at or after `sinceNs`, oldest first. */
  since(sinceNs: number): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= sinceNs);
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
