import type { GraphEvent, GraphEventStore } from "../ports/event-store.port";
import type { SqlClient } from "../ports/sql.port";
import { storeCall } from "./sql-errors";

interface EventRow {
  id: string;
  tenant_id: string;
  conversation_id: string;
  type: string;
  payload: string;
  created_at: string;
  [key: string]: unknown;
}

// Cast to text in SQL: exact ids and the jsonb's own text whatever the driver (postgres or PGlite).
// Queries order by `e.id`: a bare `order by id` would sort by the text alias ("10" < "9").
const COLUMNS = `e.id::text as id, e.tenant_id::text as tenant_id, e.conversation_id::text as conversation_id, e.type,
  e.payload::text as payload,
  to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_at`;

const toEvent = (r: EventRow): GraphEvent => ({
  id: Number(r.id),
  tenantId: r.tenant_id,
  conversationId: r.conversation_id,
  type: r.type,
  payloadJson: r.payload,
  createdAt: r.created_at,
});

/** graph_events and conversations read straight from Postgres (the system of record; no cache). */
export class SqlGraphEventStore implements GraphEventStore {
  constructor(private readonly sql: SqlClient) {}

  async openConversation(
    tenantId: string,
    conversationId: string,
  ): Promise<{ lastEventId: number } | undefined> {
    const rows = await storeCall(() =>
      this.sql.query<{ last_id: string }>(
        `select (select coalesce(max(e.id), 0) from public.graph_events e where e.conversation_id = c.id)::text as last_id
         from public.conversations c
        where c.id = $1::uuid and c.tenant_id = $2::uuid`,
        [conversationId, tenantId],
      ),
    );
    const row = rows[0];
    return row ? { lastEventId: Number(row.last_id) } : undefined;
  }

  async readByIds(ids: readonly number[]): Promise<GraphEvent[]> {
    if (ids.length === 0) return [];
    // one array literal parameter: the same text for both drivers
    const rows = await storeCall(() =>
      this.sql.query<EventRow>(
        `select ${COLUMNS} from public.graph_events e where e.id = any($1::bigint[]) order by e.id`,
        [`{${ids.join(",")}}`],
      ),
    );
    return rows.map(toEvent);
  }

  async readAfter(
    tenantId: string,
    conversationId: string,
    afterId: number,
    limit: number,
  ): Promise<GraphEvent[]> {
    const rows = await storeCall(() =>
      this.sql.query<EventRow>(
        `select ${COLUMNS} from public.graph_events e
          where e.conversation_id = $1::uuid and e.tenant_id = $2::uuid and e.id > $3::bigint
          order by e.id limit $4::int`,
        [conversationId, tenantId, String(afterId), limit],
      ),
    );
    return rows.map(toEvent);
  }
}
