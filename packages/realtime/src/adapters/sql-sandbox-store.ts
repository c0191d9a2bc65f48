import type { SandboxSessionStatus, SandboxStore } from "../ports/sandbox-store.port";
import type { SqlClient } from "../ports/sql.port";
import { sqlState, storeCall } from "./sql-errors";

/** sandbox_sessions and execution.completed, written straight to Postgres. */
export class SqlSandboxStore implements SandboxStore {
  constructor(private readonly sql: SqlClient) {}

  async startSession(s: { tenantId: string; conversationId: string; sandboxId: string }): Promise<string> {
    const rows = await storeCall(() =>
      this.sql.query<{ id: string }>(
        `insert into public.sandbox_sessions (tenant_id, conversation_id, sandbox_id, status)
       values ($1::uuid, $2::uuid, $3, 'running') returning id::text as id`,
        [s.tenantId, s.conversationId, s.sandboxId],
      ),
    );
    const id = rows[0]?.id;
    if (!id) throw new Error("sandbox_sessions insert returned no row");
    return id;
  }

  async touchSession(sessionId: string): Promise<void> {
    await storeCall(() =>
      this.sql.query("update public.sandbox_sessions set last_used_at = now() where id = $1::uuid", [
        sessionId,
      ]),
    );
  }

  async endSession(sessionId: string, status: Exclude<SandboxSessionStatus, "running">): Promise<void> {
    await storeCall(() =>
      this.sql.query(
        `update public.sandbox_sessions set status = $2, ended_at = now()
          where id = $1::uuid and ended_at is null`,
        [sessionId, status],
      ),
    );
  }

  async recordExecution(
    tenantId: string,
    conversationId: string,
    payload: Record<string, unknown>,
  ): Promise<number | undefined> {
    try {
      return await storeCall(() =>
        this.sql.transaction(async (tx) => {
          // the conversation's lock first, as every RPC writing to it does: event ids of one
          // conversation then commit in id order, which Last-Event-ID resumption relies on
          await tx.query("select 1 from public.lock_conversation($1::uuid, $2::uuid)", [
            tenantId,
            conversationId,
          ]);
          // text, then jsonb: a driver that knows the parameter is jsonb would encode the string again
          const rows = await tx.query<{ id: string }>(
            "select public.emit_graph_event($1::uuid, $2::uuid, 'execution.completed', $3::text::jsonb)::text as id",
            [tenantId, conversationId, JSON.stringify(payload)],
          );
          return rows[0] ? Number(rows[0].id) : undefined;
        }),
      );
    } catch (error) {
      if (sqlState(error) === "PT404") return undefined;
      throw error;
    }
  }
}
