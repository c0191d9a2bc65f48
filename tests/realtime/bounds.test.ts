import { type IncomingMessage, request } from "node:http";
import type { PostgresRealtime } from "@candor/realtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
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
import { idsOf, openSse, type SseClient } from "./support/sse-client";

describe.runIf(hasPostgres())("realtime bounds, auth and shutdown", () => {
  let api: TestApi;
  let a: TestTenant;
  let b: TestTenant;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    a = await api.createTenant();
    b = await api.createTenant();
  });
  afterAll(async () => api?.stop());

  const events = (
    realtime: PostgresRealtime,
    conversationId: string,
    init: { key?: string; query?: string } = {},
  ) =>
    openSse(`${realtime.url}/v1/conversations/${conversationId}/events${init.query ?? ""}`, {
      headers: init.key ? { authorization: `Bearer ${init.key}` } : {},
    });

  describe("auth", () => {
    let realtime: PostgresRealtime;
    beforeAll(async () => {
      realtime = await startTestRealtime(api);
    });
    afterAll(async () => realtime?.stop());

    it("answers with the API.md error envelope: 401, 403, 404 for another tenant, 400 for a bad id", async () => {
      const conversationId = await createConversation(api, a);
      const anonymous = await events(realtime, conversationId);
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body).error).toMatchObject({
        type: "authentication_error",
        code: "unauthenticated",
      });

      const usageOnly = await api.createKey(a.tenantId, ["usage:read"]);
      expect((await events(realtime, conversationId, { key: usageOnly.key })).status).toBe(403);

      const foreign = await events(realtime, conversationId, { key: b.key });
      expect(foreign.status).toBe(404);
      const body = JSON.parse(foreign.body);
      expect(body.error).toMatchObject({ type: "not_found_error", code: "not_found", param: null });
      expect(body.error.request_id).toBe(foreign.headers["x-request-id"]);

      expect((await events(realtime, "not-a-uuid", { key: a.key })).status).toBe(400);
      expect(realtime.hub.size).toBe(0);
    });

    it("accepts a stream token for its conversation only", async () => {
      const conversationId = await createConversation(api, a);
      const another = await createConversation(api, a);
      const token = await streamToken(api, a, conversationId);
      const ok = await events(realtime, conversationId, { query: `?token=${encodeURIComponent(token)}` });
      expect(ok.status).toBe(200);
      ok.close();
      const wrong = await events(realtime, another, { query: `?token=${encodeURIComponent(token)}` });
      expect(wrong.status).toBe(401);
      const forged = await events(realtime, conversationId, {
        query: `?token=${encodeURIComponent(`${token}x`)}`,
      });
      expect(forged.status).toBe(401);
    });
  });

  describe("caps and heartbeats", () => {
    let realtime: PostgresRealtime;
    beforeAll(async () => {
      realtime = await startTestRealtime(api, {
        SSE_MAX_SUBSCRIBERS: "3",
        SSE_MAX_SUBSCRIBERS_PER_TENANT: "2",
        SSE_HEARTBEAT_MS: "100",
        SSE_RETRY_MS: "3000",
      });
    });
    afterAll(async () => realtime?.stop());

    it("refuses subscribers over the tenant and process caps with 503 and Retry-After", async () => {
      const ca = await createConversation(api, a);
      const cb = await createConversation(api, b);
      const open: SseClient[] = [
        await events(realtime, ca, { key: a.key }),
        await events(realtime, ca, { key: a.key }),
      ];
      const overTenant = await events(realtime, ca, { key: a.key });
      expect(overTenant.status).toBe(503);
      expect(overTenant.headers["retry-after"]).toBe("3");
      expect(JSON.parse(overTenant.body).error).toMatchObject({
        type: "service_unavailable",
        code: "capacity_exceeded",
      });

      open.push(await events(realtime, cb, { key: b.key }));
      expect(open.map((c) => c.status)).toEqual([200, 200, 200]);
      const overProcess = await events(realtime, cb, { key: b.key });
      expect(overProcess.status).toBe(503);

      open[0]?.close();
      await waitFor(() => realtime.hub.size === 2, 5_000, "the closed stream to be freed");
      const again = await events(realtime, ca, { key: a.key });
      expect(again.status).toBe(200);
      for (const c of [...open, again]) c.close();
      await waitFor(() => realtime.hub.size === 0, 5_000, "all streams to be freed");
    });

    it("sends a comment heartbeat at the configured interval", async () => {
      const conversationId = await createConversation(api, a);
      const stream = await events(realtime, conversationId, { key: a.key });
      await new Promise((r) => setTimeout(r, 450));
      expect(stream.comments).toBeGreaterThanOrEqual(3);
      expect(stream.retry).toBe(3000);
      stream.close();
    });
  });

  describe("a slow subscriber", () => {
    let realtime: PostgresRealtime;
    beforeAll(async () => {
      realtime = await startTestRealtime(api, { SSE_MAX_BUFFERED_BYTES: "65536" });
    });
    afterAll(async () => realtime?.stop());

    it("is cut once its socket queue passes the bound, frees its state, and resumes with Last-Event-ID", async () => {
      const conversationId = await createConversation(api, a);
      const start = await lastEventId(api, conversationId);
      const fast = await events(realtime, conversationId, { key: a.key });

      // a client that stops reading once the stream is open
      let text = "";
      let closed = false;
      const slowRes = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: realtime.port,
            path: `/v1/conversations/${conversationId}/events`,
            agent: false,
            headers: { authorization: `Bearer ${a.key}` },
          },
          resolve,
        );
        req.on("error", reject);
        req.end();
      });
      expect(slowRes.statusCode).toBe(200);
      slowRes.pause();
      slowRes.on("close", () => {
        closed = true;
      });
      slowRes.on("error", () => {});
      await waitFor(() => realtime.hub.size === 2, 5_000, "both subscribers");

      // 64 KiB events until the kernel's buffers are full and the process queue passes the bound
      const blob = "x".repeat(64 * 1024);
      for (let k = 0; k < 200 && realtime.hub.stats.slowDisconnects === 0; k++) {
        await api.db.query(
          "select public.emit_graph_event($1, $2, 'conversation.updated', jsonb_build_object('blob', $3::text))",
          [a.tenantId, conversationId, blob],
        );
      }
      await waitFor(() => realtime.hub.stats.slowDisconnects === 1, 10_000, "the slow subscriber to be cut");
      expect(realtime.hub.size).toBe(1);
      // it reads again: what the buffers held, then the end of a cut connection
      slowRes.setEncoding("utf8");
      slowRes.on("data", (chunk: string) => {
        text += chunk;
      });
      slowRes.resume();
      await waitFor(() => closed, 10_000, "the slow stream to end");

      const all = await eventIdsAfter(api, conversationId, start);
      await fast.until(() => fast.events.length === all.length, 20_000);
      expect(idsOf(fast)).toEqual(all); // the fast one was not held back or cut

      // the cut client comes back from the last event it fully received and gets the rest
      const received = completeFrameIds(text);
      expect(received).toEqual(all.slice(0, received.length)); // what it got was a clean prefix
      console.log(
        `[realtime slow subscriber] cut after ${all.length} events of 64 KiB; it had read ${received.length} whole frames`,
      );
      const resumed = await openSse(`${realtime.url}/v1/conversations/${conversationId}/events`, {
        headers: {
          authorization: `Bearer ${a.key}`,
          "last-event-id": String(received.at(-1) ?? start),
        },
      });
      const rest = all.filter((id) => id > (received.at(-1) ?? start));
      await resumed.until(() => resumed.events.length === rest.length, 20_000);
      expect(idsOf(resumed)).toEqual(rest);
      resumed.close();
      fast.close();
    }, 60_000);
  });

  describe("shutdown (what SIGTERM runs)", () => {
    it("stops accepting, tells streams when to retry, closes them and finishes within 10 s", async () => {
      const realtime = await startTestRealtime(api, { SSE_RETRY_MS: "500" });
      const conversationId = await createConversation(api, a);
      const streams = await Promise.all(
        [1, 2, 3].map(() => events(realtime, conversationId, { key: a.key })),
      );
      await appendMessage(api, a, conversationId, "before shutdown");
      await Promise.all(streams.map((s) => s.until(() => s.events.length === 1)));

      const started = performance.now();
      await realtime.stop();
      const took = performance.now() - started;
      expect(took).toBeLessThan(10_000);
      for (const s of streams) {
        expect(await s.ended).toBe("end"); // ended cleanly by the server, not cut
        expect(s.retry).toBeGreaterThanOrEqual(500);
        expect(s.retry).toBeLessThanOrEqual(1_000);
      }
      expect(realtime.hub.size).toBe(0);
      await expect(fetch(`${realtime.url}/health`)).rejects.toThrow(); // no longer listening
    });
  });
});

/** Ids of the frames a client received whole (a cut stream may end inside a frame). */
function completeFrameIds(text: string): number[] {
  const blocks = text.split("\n\n").slice(0, -1);
  return blocks.flatMap((b) => [...b.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1])));
}
