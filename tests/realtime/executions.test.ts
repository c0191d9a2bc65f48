import type { PostgresRealtime } from "@candor/realtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { FakeSandboxProvider } from "./support/fake-sandbox";
import { createConversation, STREAM_TOKEN_SECRET, startTestRealtime } from "./support/realtime-harness";
import { openSse } from "./support/sse-client";

describe.runIf(hasPostgres())("code execution", () => {
  let api: TestApi;
  let tenant: TestTenant;
  let other: TestTenant;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    tenant = await api.createTenant();
    other = await api.createTenant();
  });
  afterAll(async () => api?.stop());

  const execute = (
    realtime: PostgresRealtime,
    conversationId: string,
    key: string | undefined,
    body: unknown,
  ) =>
    fetch(`${realtime.url}/v1/conversations/${conversationId}/executions`, {
      method: "POST",
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  describe("without E2B_API_KEY", () => {
    let realtime: PostgresRealtime;
    beforeAll(async () => {
      realtime = await startTestRealtime(api);
    });
    afterAll(async () => realtime?.stop());

    it("answers 503 code_execution_unavailable with Retry-After, after authenticating", async () => {
      const conversationId = await createConversation(api, tenant);
      const res = await execute(realtime, conversationId, tenant.key, { language: "python", code: "1 + 1" });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      const body = (await res.json()) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({
        type: "service_unavailable",
        code: "code_execution_unavailable",
        param: null,
      });
      expect(body.error.request_id).toBe(res.headers.get("x-request-id"));

      const anonymous = await execute(realtime, conversationId, undefined, { language: "python", code: "1" });
      expect(anonymous.status).toBe(401);
    });

    it("says so in /health and /v1/tools, and nothing else breaks", async () => {
      const health = await fetch(`${realtime.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({
        status: "ok",
        dependencies: { supabase: "up", e2b: "unavailable" },
      });
      const tools = await api.fetch("/v1/tools", { key: tenant.key });
      expect(((await tools.json()) as { data: { name: string; available: boolean }[] }).data).toContainEqual(
        expect.objectContaining({ name: "code_execution", available: false }),
      );

      const conversationId = await createConversation(api, tenant);
      const stream = await openSse(`${realtime.url}/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${tenant.key}` },
      });
      expect(stream.status).toBe(200);
      await api.fetch(`/v1/conversations/${conversationId}`, {
        method: "PATCH",
        key: tenant.key,
        json: { title: "t" },
      });
      await stream.until(() => stream.events.length === 1);
      expect(stream.events[0]?.event).toBe("conversation.updated");
      stream.close();
    });
  });

  describe("with a sandbox provider (the fake one, behind the same port as E2B)", () => {
    let realtime: PostgresRealtime;
    const provider = new FakeSandboxProvider();
    beforeAll(async () => {
      realtime = await startTestRealtime(api, {}, provider);
    });
    afterAll(async () => realtime?.stop());

    it("runs code in the conversation's sandbox, records the session and emits execution.completed", async () => {
      const conversationId = await createConversation(api, tenant);
      const stream = await openSse(`${realtime.url}/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${tenant.key}` },
      });

      const res = await execute(realtime, conversationId, tenant.key, {
        language: "python",
        code: "print(42)",
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ stdout: "42\n", stderr: "", results: [], error: null });
      expect(body.duration_ms).toBeTypeOf("number");

      const raised = await execute(realtime, conversationId, tenant.key, {
        language: "javascript",
        code: "raise ValueError",
        timeout_ms: 5_000,
      });
      expect(raised.status).toBe(200);
      expect(((await raised.json()) as { error: unknown }).error).toMatchObject({ name: "ValueError" });
      expect(provider.created).toHaveLength(1); // one sandbox for the conversation
      expect(provider.created[0]?.runs.map((r) => [r.language, r.timeoutMs])).toEqual([
        ["python", 30_000],
        ["javascript", 5_000],
      ]);

      const sessions = await api.db.query<{ tenant_id: string; sandbox_id: string; status: string }>(
        "select tenant_id::text, sandbox_id, status from public.sandbox_sessions where conversation_id = $1",
        [conversationId],
      );
      expect(sessions).toEqual([
        { tenant_id: tenant.tenantId, sandbox_id: provider.created[0]?.id, status: "running" },
      ]);

      await stream.until(() => stream.events.length === 2);
      expect(stream.events.map((e) => e.event)).toEqual(["execution.completed", "execution.completed"]);
      const payloads = stream.events.map((e) => JSON.parse(e.data).payload);
      expect(payloads[0]).toMatchObject({ language: "python", status: "ok", error_name: null });
      expect(payloads[1]).toMatchObject({
        language: "javascript",
        status: "error",
        error_name: "ValueError",
      });
      stream.close();

      const health = await fetch(`${realtime.url}/health`);
      expect(((await health.json()) as { dependencies: { e2b: string } }).dependencies.e2b).toBe("available");
    });

    it("treats another tenant's conversation as not found and validates the body", async () => {
      const conversationId = await createConversation(api, tenant);
      const foreign = await execute(realtime, conversationId, other.key, { language: "python", code: "1" });
      expect(foreign.status).toBe(404);
      expect(((await foreign.json()) as { error: unknown }).error).toMatchObject({ type: "not_found_error" });

      const bad = await execute(realtime, conversationId, tenant.key, { language: "ruby", code: "1" });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: unknown }).error).toMatchObject({ param: "language" });

      const long = await execute(realtime, conversationId, tenant.key, {
        language: "python",
        code: "1",
        timeout_ms: 10_000_000,
      });
      expect(long.status).toBe(400);
      expect(((await long.json()) as { error: unknown }).error).toMatchObject({ param: "timeout_ms" });

      const notUuid = await execute(realtime, "nope", tenant.key, { language: "python", code: "1" });
      expect(notUuid.status).toBe(400);
    });

    it("kills the sandboxes on shutdown and marks their sessions killed", async () => {
      const conversationId = await createConversation(api, tenant);
      await execute(realtime, conversationId, tenant.key, { language: "python", code: "1" });
      await realtime.stop();
      expect(provider.alive).toHaveLength(0);
      const rows = await api.db.query<{ status: string; ended: boolean }>(
        "select status, ended_at is not null as ended from public.sandbox_sessions where conversation_id = $1",
        [conversationId],
      );
      expect(rows).toEqual([{ status: "killed", ended: true }]);
    });
  });
});
