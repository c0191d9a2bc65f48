/** One NOTIFY on the graph_events channel: it names the event, it does not carry it. */
export interface GraphNotification {
  id: number;
  tenantId: string;
  conversationId: string;
}

export type ChangeFeedState = "connecting" | "up" | "down" | "stopped";

export interface ChangeFeedHandlers {
  onNotification(notification: GraphNotification): void;
  /**
   * The feed was lost and is listening again: notifications sent in between are gone, so every
   * subscriber must be caught up from graph_events.
   */
  onResync(): void;
}

/** The process's one LISTEN on graph_events. */
export interface ChangeFeed {
  /** Resolves once listening. */
  start(handlers: ChangeFeedHandlers): Promise<void>;
  readonly state: ChangeFeedState;
  stop(): Promise<void>;
}

export const GRAPH_EVENTS_CHANNEL = "graph_events";

/** Parses the trigger's payload `{"id","tenant_id","conversation_id"}`; undefined when malformed. */
export function parseGraphNotification(payload: string): GraphNotification | undefined {
  try {
    const p = JSON.parse(payload) as { id?: unknown; tenant_id?: unknown; conversation_id?: unknown };
    const id = typeof p.id === "number" ? p.id : typeof p.id === "string" ? Number(p.id) : Number.NaN;
    if (
      !Number.isSafeInteger(id) ||
      typeof p.tenant_id !== "string" ||
      typeof p.conversation_id !== "string"
    ) {
      return undefined;
    }
    return { id, tenantId: p.tenant_id, conversationId: p.conversation_id };
  } catch {
    return undefined;
  }
}
