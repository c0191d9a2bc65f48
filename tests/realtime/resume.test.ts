import type { PostgresRealtime } from "@candor/realtime";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { startTcpProxy } from "../support/tcp-proxy";
import {
  appendMessage,
  createConversation,
  eventIdsAfter,
  lastEventId,
  STREAM_TOKEN_SECRET,
  startTestRealtime,
  waitFor,
} from "./support/realtime-harness";
import { idsOf, openSse, type SseClient } from "./support/sse-client";

describe.runIf(hasPostgres())("resuming with Last-Event-ID", () => {
  let api: TestApi;
  let realtime: PostgresRealtime;
  let tenant: TestTenant;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    // small replay pages: the replay takes several reads, and live events land in the middle of it
    realtime = await startTestRealtime(api, { SSE_REPLAY_PAGE_SIZE: "7", LISTEN_RECONNECT_MAX_MS: "500" });
    tenant = await api.createTenant();
  });
  afterAll(async () => {
    await realtime?.stop();
    await api?.stop();
  });

  const subscribe = (conversationId: string, headers: Record<string, string> = {}, query = "") =>
    openSse(`${realtime.url}/v1/conversations/${conversationId}/events${query}`, {
      headers: { authorization: `Bearer ${tenant.key}`, ...headers },
    });

  const commit = async (conversationId: string, from: number, to: number) => {
    for (let k = from; k <= to; k++) await appendMessage(api, tenant, conversationId, `message ${k}`);
  };

  /** The process's LISTEN backend, found by the application_name the service gave it. */
  const listenPid = async (): Promise<number | undefined> => {
    const rows = await api.db.query<{ pid: number }>(
      "select pid from pg_stat_activity where application_name = $1 and datname = current_database()",
      [realtime.listenApplicationName],
    );
    return rows[0]?.pid;
  };

  it.each([
    ["the Last-Event-ID header", "header"],
    ["the last_event_id query parameter", "query"],
  ])(
    "a subscriber that leaves after event 40 and comes back with %s gets 41…100 exactly once",
    async (_, how) => {
      const conversationId = await createConversation(api, tenant);
      const start = await lastEventId(api, conversationId);
      const first = await subscribe(conversationId);
      expect(first.status).toBe(200);

      await commit(conversationId, 1, 40);
      await first.until(() => first.events.length === 40);
      const fortieth = first.events[39]?.id as string;
      first.close();

      await commit(conversationId, 41, 70); // while it is away
      // it comes back while 71…100 are being committed: replay and live overlap
      const committing = commit(conversationId, 71, 100);
      const again = await (how === "header"
        ? subscribe(conversationId, { "last-event-id": fortieth })
        : subscribe(conversationId, {}, `?last_event_id=${fortieth}`));
      expect(again.status).toBe(200);
      await committing;

      const all = await eventIdsAfter(api, conversationId, start);
      expect(all).toHaveLength(100);
      await again.until(() => again.events.length >= 60);
      await new Promise((r) => setTimeout(r, 200)); // nothing more may arrive
      expect(idsOf(first)).toEqual(all.slice(0, 40));
      expect(idsOf(again)).toEqual(all.slice(40)); // 41…100, in order, none twice
      expect(again.events.every((e) => e.event === "message.created")).toBe(true);
      again.close();
    },
  );

  it("loses nothing when the LISTEN connection is killed mid-stream (pg_terminate_backend)", async () => {
    const conversationId = await createConversation(api, tenant);
    const start = await lastEventId(api, conversationId);
    const steady = await subscribe(conversationId);
    const leaver = await subscribe(conversationId);

    await commit(conversationId, 1, 30);
    const pidBefore = await listenPid();
    expect(pidBefore).toBeTypeOf("number");
    const reconnectsBefore = (realtime.changeFeed as unknown as { reconnects: number }).reconnects;
    const killed = await api.db.query<{ ok: boolean }>("select pg_terminate_backend($1) as ok", [pidBefore]);
    expect(killed[0]?.ok).toBe(true);

    // committed while nobody listens: these NOTIFYs are gone, the table still has the events
    await commit(conversationId, 31, 60);
    await leaver.until(() => leaver.events.length >= 40);
    const fortieth = leaver.events[39]?.id as string;
    leaver.close();

    await waitFor(
      async () => {
        const pid = await listenPid();
        return pid !== undefined && pid !== pidBefore && realtime.changeFeed.state === "up";
      },
      10_000,
      "the LISTEN session to come back",
    );
    expect((realtime.changeFeed as unknown as { reconnects: number }).reconnects).toBe(reconnectsBefore + 1);

    await commit(conversationId, 61, 80);
    const back = await subscribe(conversationId, { "last-event-id": fortieth });
    await commit(conversationId, 81, 100);

    const all = await eventIdsAfter(api, conversationId, start);
    expect(all).toHaveLength(100);
    await steady.until(() => steady.events.length >= 100);
    await back.until(() => back.events.length >= 60);
    await new Promise((r) => setTimeout(r, 200));
    expect(idsOf(steady)).toEqual(all); // 1…100 across the outage, in order, none twice
    expect(idsOf(leaver).slice(0, 40)).toEqual(all.slice(0, 40));
    expect(idsOf(back)).toEqual(all.slice(40));
    for (const c of [steady, back] as SseClient[]) c.close();
  });

  it("keeps reconnecting with backoff while Postgres is unreachable, says degraded, then catches up", async () => {
    const pg = new URL(inject("databaseUrl"));
    const link = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    const proxied = new URL(pg);
    proxied.port = String(link.port);
    const cut = await startTestRealtime(
      api,
      { LISTEN_RECONNECT_MAX_MS: "200" },
      undefined,
      proxied.toString(),
    );
    try {
      const conversationId = await createConversation(api, tenant);
      const start = await lastEventId(api, conversationId);
      const stream = await openSse(`${cut.url}/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${tenant.key}` },
      });
      await commit(conversationId, 1, 10);
      await stream.until(() => stream.events.length === 10);

      await link.cut(); // the service's connections to Postgres drop, and new ones are refused
      await waitFor(() => cut.changeFeed.state === "down", 5_000, "the feed to notice");
      await commit(conversationId, 11, 20); // committed (directly) while the service cannot listen
      await new Promise((r) => setTimeout(r, 1_000)); // several refused reconnection attempts
      expect(cut.changeFeed.state).toBe("down");
      const health = await fetch(`${cut.url}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("degraded");
      expect(stream.events).toHaveLength(10);

      await link.restore();
      await waitFor(() => cut.changeFeed.state === "up", 10_000, "the feed to come back");
      await commit(conversationId, 21, 25);
      const all = await eventIdsAfter(api, conversationId, start);
      await stream.until(() => stream.events.length >= 25, 10_000);
      await new Promise((r) => setTimeout(r, 200));
      expect(idsOf(stream)).toEqual(all);
      stream.close();
    } finally {
      await cut.stop();
      await link.close();
    }
  });

  it("answers 400 for a Last-Event-ID that is not an event id", async () => {
    const conversationId = await createConversation(api, tenant);
    const res = await subscribe(conversationId, { "last-event-id": "abc" });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatchObject({
      type: "invalid_request_error",
      param: "last_event_id",
    });
  });
});
