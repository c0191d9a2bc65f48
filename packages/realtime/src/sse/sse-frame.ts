import type { GraphEvent } from "../ports/event-store.port";

// An SSE field value ends at CR or LF; a type read from the table never has one, but a frame must
// not be splittable by data.
const oneLine = (s: string) => s.replace(/[\r\n]/g, " ");

/**
 * `id:` (the graph event id, what the client sends back as Last-Event-ID), `event:` (its type) and
 * one JSON `data:` line. The jsonb payload's text is spliced in as is: Postgres prints jsonb on one
 * line with control characters escaped, so it needs neither a parse nor a stringify here.
 */
export function formatEventFrame(event: GraphEvent): string {
  const type = oneLine(event.type);
  return (
    `id: ${event.id}\nevent: ${type}\n` +
    `data: {"id":"${event.id}","type":${JSON.stringify(type)},"conversation_id":${JSON.stringify(event.conversationId)},` +
    `"created_at":${JSON.stringify(event.createdAt)},"payload":${oneLine(event.payloadJson)}}\n\n`
  );
}

export const HEARTBEAT_FRAME = ": heartbeat\n\n";

export const retryFrame = (ms: number): string => `retry: ${Math.max(0, Math.round(ms))}\n\n`;
