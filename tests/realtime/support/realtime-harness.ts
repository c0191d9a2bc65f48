import { randomBytes } from "node:crypto";
import { createCore, loadConfig } from "@candor/core";
import {
  loadRealtimeConfig,
  type PostgresRealtime,
  type SandboxProvider,
  startPostgresRealtime,
} from "@candor/realtime";
import { inject } from "vitest";
import type { TestApi, TestTenant } from "../../support/api-harness";

/** The secret both the API (issuing stream tokens) and the realtime service (verifying them) use. */
export const STREAM_TOKEN_SECRET = randomBytes(32).toString("hex");

/**
 * The realtime service as deployed, in this test process: its own core (supabase-js against the
 * test API's local Supabase endpoint), a query pool and a LISTEN session on this run's Postgres.
 */
export async function startTestRealtime(
  api: TestApi,
  env: Record<string, string> = {},
  sandboxes?: SandboxProvider,
  /** Another way to this run's database (a cuttable proxy); default: the run's database URL. */
  databaseUrl: string = inject("databaseUrl"),
): Promise<PostgresRealtime> {
  const { supabase } = (await api.core()).config;
  const core = createCore(
    loadConfig({
      SUPABASE_URL: supabase.url,
      SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
      STREAM_TOKEN_SECRET,
      LOG_LEVEL: "ERROR",
      CANDOR_STAGE: "test",
      ...env,
    }),
    { serviceName: "candor-realtime-test" },
  );
  return startPostgresRealtime({
    core,
    config: loadRealtimeConfig(env),
    databaseUrl,
    sandboxes,
    host: "127.0.0.1",
    port: Number(env.PORT ?? 0),
  });
}

export async function createConversation(
  api: TestApi,
  tenant: TestTenant,
  title = "realtime",
): Promise<string> {
  const res = await api.fetch("/v1/conversations", { method: "POST", key: tenant.key, json: { title } });
  if (res.status !== 201) throw new Error(`create conversation: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** Appends a message through the append_message RPC (what a completed turn does): one message.created. */
export async function appendMessage(
  api: TestApi,
  tenant: TestTenant,
  conversationId: string,
  content: string,
) {
  await api.db.query("select public.append_message($1, $2, 'main', 'user', $3)", [
    tenant.tenantId,
    conversationId,
    content,
  ]);
}

/** The conversation's graph event ids above `afterId`, from the table: what every subscriber must get. */
export async function eventIdsAfter(api: TestApi, conversationId: string, afterId = 0): Promise<number[]> {
  const rows = await api.db.query<{ id: string }>(
    "select e.id::text as id from public.graph_events e where e.conversation_id = $1 and e.id > $2 order by e.id",
    [conversationId, afterId],
  );
  return rows.map((r) => Number(r.id));
}

export async function lastEventId(api: TestApi, conversationId: string): Promise<number> {
  const rows = await api.db.query<{ id: string }>(
    "select coalesce(max(id), 0)::text as id from public.graph_events where conversation_id = $1",
    [conversationId],
  );
  return Number(rows[0]?.id ?? 0);
}

export async function streamToken(api: TestApi, tenant: TestTenant, conversationId: string): Promise<string> {
  const res = await api.fetch("/v1/stream-tokens", {
    method: "POST",
    key: tenant.key,
    json: { conversation_id: conversationId },
  });
  if (res.status !== 201) throw new Error(`stream token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Nearest-rank percentile (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = "condition",
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
