/**
 * Issue 5: "With Redis healthy, a tenant limited to 5 requests per minute gets exactly 5 successes
 * and then 429s with correct headers, across two separately started API processes."
 * Two child processes each run the API (tests/support/api-process.ts) with the same Supabase and
 * Upstash endpoints and the same Redis key prefix; requests alternate between them.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../support/api-harness";
import { type ChildApi, startChildApi } from "../support/child-api";
import { awayFromMinuteEdge } from "../support/latency";
import { hasPostgres, hasRedis } from "../support/requires";

describe.runIf(hasPostgres() && hasRedis())(
  "a tenant's limit is shared by separately started API processes",
  () => {
    let api: TestApi;
    let children: ChildApi[] = [];

    beforeAll(async () => {
      // a 1 s Redis deadline: on a 2-core box shared with other test runs a stall over the 150 ms
      // default is a (correct) bypass, and these tests look at enforcement
      api = await startTestApi({ redis: true, env: { LOG_LEVEL: "ERROR", REDIS_TIMEOUT_MS: "1000" } });
      // the harness put this run's endpoints, token and key prefix in process.env: both children get them
      const env = { ...process.env };
      children = await Promise.all([startChildApi(env), startChildApi(env)]);
    }, 90_000);
    afterAll(async () => {
      await Promise.all(children.map((c) => c.stop()));
      await api?.stop();
    });

    it("5 requests per minute: exactly 5 successes, then 429 with Retry-After and RateLimit-* headers", async () => {
      expect(new Set([process.pid, ...children.map((c) => c.pid)]).size).toBe(3);
      const limited = await api.createTenant();
      await api.db.query("update tenant_policies set requests_per_minute = 5 where tenant_id = $1", [
        limited.tenantId,
      ]);
      // warm each process on another tenant (handler modules, HTTP connections, Redis scripts), so
      // no limited request pays a cold start longer than the Redis timeout and gets bypassed
      const other = await api.createTenant();
      await api.db.query("update tenant_policies set requests_per_minute = 1000 where tenant_id = $1", [
        other.tenantId,
      ]);
      for (const child of children) {
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${child.url}/v1/conversations`, {
            headers: { authorization: `Bearer ${other.key}` },
          });
          await res.arrayBuffer();
          expect(res.headers.get("x-ratelimit-mode")).toBe("enforced");
        }
      }

      await awayFromMinuteEdge(10_000);
      const responses = [];
      for (let i = 0; i < 12; i++) {
        const child = children[i % 2] as ChildApi;
        const res = await fetch(`${child.url}/v1/conversations`, {
          headers: { authorization: `Bearer ${limited.key}` },
        });
        const body = (await res.json()) as { error?: { type: string; code: string; message: string } };
        responses.push({ child: i % 2, status: res.status, headers: res.headers, body });
      }

      expect(responses.map((r) => r.status)).toEqual([
        200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429,
      ]);
      // each process alone would have let 5 through: the count is the shared one in Redis
      expect(responses.filter((r) => r.status === 200 && r.child === 0)).toHaveLength(3);
      expect(responses.filter((r) => r.status === 200 && r.child === 1)).toHaveLength(2);
      expect(new Set(responses.filter((r) => r.status === 429).map((r) => r.child))).toEqual(new Set([0, 1]));

      const ok = responses.filter((r) => r.status === 200);
      expect(ok.map((r) => r.headers.get("ratelimit-remaining"))).toEqual(["4", "3", "2", "1", "0"]);
      for (const r of responses) {
        expect(r.headers.get("x-ratelimit-mode")).toBe("enforced");
        expect(r.headers.get("ratelimit-limit")).toBe("5");
        expect(r.headers.get("x-request-id")).toBeTruthy();
        const reset = Number(r.headers.get("ratelimit-reset"));
        expect(Number.isInteger(reset)).toBe(true);
        expect(reset).toBeGreaterThanOrEqual(r.status === 429 ? 1 : 0);
        expect(reset).toBeLessThanOrEqual(60);
      }
      for (const r of responses.filter((x) => x.status === 429)) {
        expect(r.headers.get("ratelimit-remaining")).toBe("0");
        const retryAfter = Number(r.headers.get("retry-after"));
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        // both say when the window resets (computed from the same instant, so within a second)
        expect(Math.abs(retryAfter - Number(r.headers.get("ratelimit-reset")))).toBeLessThanOrEqual(1);
        expect(r.headers.get("content-type")).toContain("application/json");
        expect(r.body.error).toMatchObject({ type: "rate_limit_error", code: "rate_limited" });
        // the body says which limit refused
        expect(r.body.error?.message).toMatch(/requests per minute \(limit 5\)/);
      }
    });

    it("tokens per minute: a 429 that says tokens, and a request over the whole limit does not lock the tenant out", async () => {
      const t = await api.createTenant();
      await api.db.query("update tenant_policies set tokens_per_minute = 100 where tenant_id = $1", [
        t.tenantId,
      ]);
      const complete = (maxTokens: number) =>
        api.fetch("/v1/chat/completions", {
          method: "POST",
          key: t.key,
          json: { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }], max_tokens: maxTokens },
        });
      const big = await complete(500);
      const body = (await big.json()) as { error: { type: string; code: string; message: string } };
      expect(big.status).toBe(429);
      expect(big.headers.get("x-ratelimit-mode")).toBe("enforced");
      expect(big.headers.get("ratelimit-limit")).toBe("100");
      expect(big.headers.get("ratelimit-remaining")).toBe("0");
      // 500 tokens never fit in 100 per minute: the longest honest wait, a minute
      expect(big.headers.get("retry-after")).toBe("60");
      expect(body.error).toMatchObject({ type: "rate_limit_error", code: "rate_limited" });
      expect(body.error.message).toMatch(/tokens per minute \(limit 100\)/);
      // the refused request was not charged: a small one right after passes the limiter
      const small = await complete(20);
      await small.arrayBuffer();
      expect(small.status).not.toBe(429);
      expect(small.headers.get("x-ratelimit-mode")).toBe("enforced");
      expect(Number(small.headers.get("ratelimit-remaining"))).toBeGreaterThanOrEqual(60);
    });
  },
);
