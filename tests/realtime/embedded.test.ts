import { randomBytes } from "node:crypto";
import { API_KEY_SCOPES, createCore, loadConfig, SupabaseAdmin } from "@candor/core";
import { loadRealtimeConfig, type RealtimeService, startEmbeddedRealtime } from "@candor/realtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../infra/local/db/migrate";
import { createPGliteDatabase } from "../../infra/local/db/pglite-database";
import type { SqlDatabase } from "../../infra/local/db/sql-database";
import { type LocalSupabase, startLocalSupabase } from "../../infra/local/supabase";
import { idsOf, openSse } from "./support/sse-client";

/**
 * `npm start`'s default: PGlite in this process, the realtime service listening through PGlite's own
 * listen (the second change-feed adapter), no Postgres server anywhere.
 */
describe("embedded mode (PGlite)", () => {
  let db: SqlDatabase;
  let supabase: LocalSupabase;
  let realtime: RealtimeService;
  let tenantId: string;
  let key: string;

  beforeAll(async () => {
    db = await createPGliteDatabase();
    await migrate(db);
    supabase = await startLocalSupabase({ db, jwtSecret: randomBytes(32).toString("hex"), port: 0 });
    const core = createCore(
      loadConfig({
        SUPABASE_URL: supabase.url,
        SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
        LOG_LEVEL: "ERROR",
      }),
      { serviceName: "candor-realtime-embedded-test" },
    );
    const admin = new SupabaseAdmin(core.rpc);
    tenantId = (await admin.createTenant("embedded")).id;
    key = (await admin.createApiKey(tenantId, API_KEY_SCOPES)).key;
    realtime = await startEmbeddedRealtime({
      core,
      config: loadRealtimeConfig({ SSE_REPLAY_PAGE_SIZE: "4" }),
      database: db,
      sandboxes: undefined,
      host: "127.0.0.1",
      port: 0,
    });
  }, 120_000);
  afterAll(async () => {
    await realtime?.stop();
    await supabase?.close();
    await db?.close();
  });

  const append = (conversationId: string, content: string) =>
    db.query("select public.append_message($1, $2, 'main', 'user', $3)", [tenantId, conversationId, content]);

  it("streams live events and resumes from Last-Event-ID", async () => {
    const rows = await db.query<{ c: { id: string } }>(
      "select public.create_conversation($1, 'embedded') as c",
      [tenantId],
    );
    const conversationId = rows[0]?.c.id as string;
    const url = `${realtime.url}/v1/conversations/${conversationId}/events`;
    const live = await openSse(url, { headers: { authorization: `Bearer ${key}` } });
    expect(live.status).toBe(200);
    for (let k = 0; k < 10; k++) await append(conversationId, `m${k}`);
    await live.until(() => live.events.length === 10);
    const ids = idsOf(live);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(10);

    const resumed = await openSse(url, {
      headers: { authorization: `Bearer ${key}`, "last-event-id": String(ids[2]) },
    });
    await resumed.until(() => resumed.events.length === 7);
    expect(idsOf(resumed)).toEqual(ids.slice(3));
    for (const c of [live, resumed]) c.close();

    expect(realtime.changeFeed.state).toBe("up");
    const health = await fetch(`${realtime.url}/health`);
    expect(await health.json()).toMatchObject({
      status: "ok",
      dependencies: { supabase: "up", e2b: "unavailable" },
    });
  });
});
