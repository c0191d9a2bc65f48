import type { PostgresRealtime } from "@candor/realtime";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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
  streamToken,
  waitFor,
} from "./support/realtime-harness";

/** The real `eventsource` client, as a browser would use it: a stream token in the URL, no headers. */
function watch(url: string) {
  const es = new EventSource(url);
  const seen = { ids: [] as number[], opens: 0, errors: 0 };
  es.addEventListener("open", () => {
    seen.opens++;
  });
  es.addEventListener("error", () => {
    seen.errors++;
  });
  es.addEventListener("message.created", (e) => {
    seen.ids.push(Number((e as MessageEvent).lastEventId));
  });
  return { es, seen };
}

describe.runIf(hasPostgres())("the eventsource npm client", () => {
  let api: TestApi;
  let tenant: TestTenant;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    tenant = await api.createTenant();
  });
  afterAll(async () => api?.stop());

  const commit = async (conversationId: string, from: number, to: number) => {
    for (let k = from; k <= to; k++) await appendMessage(api, tenant, conversationId, `message ${k}`);
  };

  it("reconnects on its own after the server drops it (instance replaced) and misses nothing", async () => {
    const first: PostgresRealtime = await startTestRealtime(api, { SSE_RETRY_MS: "200" });
    const port = first.port;
    const conversationId = await createConversation(api, tenant);
    const start = await lastEventId(api, conversationId);
    const token = await streamToken(api, tenant, conversationId);
    const { es, seen } = watch(
      `${first.url}/v1/conversations/${conversationId}/events?token=${encodeURIComponent(token)}`,
    );
    let second: PostgresRealtime | undefined;
    try {
      await waitFor(() => seen.opens === 1, 5_000, "the stream to open");
      await commit(conversationId, 1, 20);
      await waitFor(() => seen.ids.length === 20, 5_000, "20 events");

      await first.stop(); // SIGTERM's path: `retry:`, then the stream ends
      await commit(conversationId, 21, 40); // nobody serves this conversation now
      second = await startTestRealtime(api, { SSE_RETRY_MS: "200", PORT: String(port) });
      await waitFor(() => seen.opens === 2, 10_000, "the client to reconnect by itself");
      await commit(conversationId, 41, 50);

      const all = await eventIdsAfter(api, conversationId, start);
      expect(all).toHaveLength(50);
      await waitFor(() => seen.ids.length >= 50, 10_000, "50 events");
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.ids).toEqual(all);
      expect(seen.errors).toBeGreaterThanOrEqual(1);
    } finally {
      es.close();
      await second?.stop();
    }
  });

  it("reconnects on its own after the network drops the connection and misses nothing", async () => {
    const realtime = await startTestRealtime(api, { SSE_RETRY_MS: "200" });
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: realtime.port });
    const conversationId = await createConversation(api, tenant);
    const start = await lastEventId(api, conversationId);
    const token = await streamToken(api, tenant, conversationId);
    const { es, seen } = watch(
      `http://127.0.0.1:${proxy.port}/v1/conversations/${conversationId}/events?token=${encodeURIComponent(token)}`,
    );
    try {
      await waitFor(() => seen.opens === 1, 5_000, "the stream to open");
      await commit(conversationId, 1, 20);
      await waitFor(() => seen.ids.length === 20, 5_000, "20 events");

      await proxy.cut(); // connections dropped, nothing listening: reconnection attempts fail
      await waitFor(() => realtime.hub.size === 0, 5_000, "the server to notice");
      await commit(conversationId, 21, 40);
      await new Promise((r) => setTimeout(r, 500));
      await proxy.restore();
      await waitFor(() => seen.opens === 2, 10_000, "the client to reconnect by itself");
      await commit(conversationId, 41, 50);

      const all = await eventIdsAfter(api, conversationId, start);
      await waitFor(() => seen.ids.length >= 50, 10_000, "50 events");
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.ids).toEqual(all);
      expect(seen.errors).toBeGreaterThanOrEqual(2); // the drop, then at least one refused attempt
    } finally {
      es.close();
      await proxy.close();
      await realtime.stop();
    }
  });
});
