/** A row of graph_events, as streamed. `payload` is the jsonb's text, spliced into the frame unparsed. */
export interface GraphEvent {
  /** bigserial; ids stay below 2^53 for the life of the table, so a number is exact. */
  id: number;
  tenantId: string;
  conversationId: string;
  type: string;
  payloadJson: string;
  createdAt: string;
}

export interface GraphEventStore {
  /**
   * The conversation's last event id if the conversation exists for this tenant, else undefined.
   * One query: the ownership check and the starting point of a new subscriber.
   */
  openConversation(tenantId: string, conversationId: string): Promise<{ lastEventId: number } | undefined>;
  /** The events with these ids (those that still exist), in id order. */
  readByIds(ids: readonly number[]): Promise<GraphEvent[]>;
  /** The conversation's events after `afterId`, in id order, at most `limit`. */
  readAfter(tenantId: string, conversationId: string, afterId: number, limit: number): Promise<GraphEvent[]>;
}
