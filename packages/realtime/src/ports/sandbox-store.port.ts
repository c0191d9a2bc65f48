export type SandboxSessionStatus = "running" | "evicted" | "killed" | "failed";

/** sandbox_sessions and the execution.completed graph event: the pool's durable side. */
export interface SandboxStore {
  /** Inserts a `running` session; returns its id. */
  startSession(session: { tenantId: string; conversationId: string; sandboxId: string }): Promise<string>;
  touchSession(sessionId: string): Promise<void>;
  endSession(sessionId: string, status: Exclude<SandboxSessionStatus, "running">): Promise<void>;
  /**
   * Appends `execution.completed` to the conversation's graph events (NOTIFY by trigger), under
   * the conversation's lock like every other writer of that conversation. Returns the event id, or
   * undefined when the conversation no longer exists.
   */
  recordExecution(
    tenantId: string,
    conversationId: string,
    payload: Record<string, unknown>,
  ): Promise<number | undefined>;
}
