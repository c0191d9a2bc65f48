import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres, hasRedis } from "../support/requires";

describe.runIf(hasPostgres() && hasRedis())(
  "auth and conversation caches over the local Upstash endpoint",
  () => {
    let api: TestApi;
    let t: TestTenant;

    beforeAll(async () => {
      // a generous Redis timeout: on a loaded 2-core runner a healthy call must not be taken for an outage
      api = await startTestApi({
        redis: true,
        env: { REDIS_BREAKER_OPEN_MS: "300", REDIS_TIMEOUT_MS: "1000" },
      });
      t = await api.createTenant();
    });
    afterAll(async () => api?.stop());

    const get = (path: string, key = t.key) => api.fetch(path, { key });

    it("serves the second read of a conversation and its key from Redis, without the database", async () => {
      const created = await api.fetch("/v1/conversations", {
        method: "POST",
        key: t.key,
        json: { title: "cached" },
      });
      const { id } = (await created.json()) as { id: string };
      const first = await get(`/v1/conversations/${id}`);
      expect(first.status).toBe(200);
      api.supabaseRequests.reset();
      const second = await get(`/v1/conversations/${id}`);
      expect(second.status).toBe(200);
      expect(((await second.json()) as { title: string }).title).toBe("cached");
      expect(api.supabaseRequests.total()).toBe(0);

      // a write invalidates: the next read goes to the database once, and sees the change
      await api.fetch(`/v1/conversations/${id}`, { method: "PATCH", key: t.key, json: { title: "renamed" } });
      api.supabaseRequests.reset();
      const third = await get(`/v1/conversations/${id}`);
      expect(((await third.json()) as { title: string }).title).toBe("renamed");
      expect(api.supabaseRequests.total(/get_conversation/)).toBe(1);
      expect(api.supabaseRequests.total(/authenticate_api_key/)).toBe(0);
    });

    it("revoking a key deletes its cache entry: refused at once, not after the TTL", async () => {
      const { key, keyId } = await api.createKey(t.tenantId, ["conversations:read"]);
      expect((await get("/v1/conversations", key)).status).toBe(200);
      api.supabaseRequests.reset();
      expect((await get("/v1/conversations", key)).status).toBe(200);
      expect(api.supabaseRequests.total(/authenticate_api_key/)).toBe(0); // cached
      await (await api.core()).revokeApiKey(t.tenantId, keyId);
      expect((await get("/v1/conversations", key)).status).toBe(401);
    });

    it("falls through to the database when Redis goes away mid-test, and counts the bypass", async () => {
      const created = await api.fetch("/v1/conversations", {
        method: "POST",
        key: t.key,
        json: { title: "through" },
      });
      const { id } = (await created.json()) as { id: string };
      expect((await get(`/v1/conversations/${id}`)).status).toBe(200);
      const core = await api.core();
      const before = core.metrics.totals().cache_bypass_count ?? 0;

      await api.redisLink?.cut();
      try {
        for (let i = 0; i < 10; i++) {
          const res = await get(`/v1/conversations/${id}`);
          expect(res.status).toBe(200);
          expect(((await res.json()) as { title: string }).title).toBe("through");
        }
        const after = core.metrics.totals().cache_bypass_count ?? 0;
        // auth cache and conversation cache both bypassed, on every request
        expect(after - before).toBeGreaterThanOrEqual(20);
        expect(core.metrics.totals().redis_connection_status).toBe(0);
        const health = (await (await api.fetch("/health")).json()) as {
          status: string;
          dependencies: { redis: string };
        };
        expect(health.dependencies.redis).toBe("down");
        expect(health.status).toBe("degraded");
      } finally {
        await api.redisLink?.restore();
      }
      await expect
        .poll(
          async () => {
            await get(`/v1/conversations/${id}`);
            return core.metrics.totals().redis_connection_status;
          },
          { timeout: 5000, interval: 200 },
        )
        .toBe(1);
    });

    it("fails closed with 503 within 2 s when Postgres is unreachable: never 401, never 200", async () => {
      const fresh = await api.createKey(t.tenantId, ["conversations:read", "conversations:write"]);
      await api.postgresLink.cut();
      try {
        const probes: [string, string, string][] = [
          ["GET", "/v1/conversations", fresh.key], // key not in the auth cache: the store decides
          ["GET", "/v1/conversations", t.key], // key cached: auth passes, the list needs the store
          ["POST", "/v1/conversations", fresh.key],
          ["GET", "/v1/contexts", t.key],
        ];
        for (const [method, path, key] of probes) {
          const started = performance.now();
          const res = await api.fetch(path, { method, key, ...(method === "POST" ? { json: {} } : {}) });
          const ms = performance.now() - started;
          const body = (await res.json()) as { error: { type: string; message: string } };
          expect({ method, path, status: res.status }).toEqual({ method, path, status: 503 });
          expect(body.error.type).toBe("service_unavailable");
          expect(res.headers.get("retry-after")).toBeTruthy();
          expect(JSON.stringify(body)).not.toMatch(/PGRST|SQLSTATE|postgres:\/\//i);
          expect(ms).toBeLessThan(2000);
        }
        const health = await api.fetch("/health");
        expect(health.status).toBe(503);
        expect(((await health.json()) as { dependencies: { supabase: string } }).dependencies.supabase).toBe(
          "down",
        );
      } finally {
        await api.postgresLink.restore();
      }
      await expect
        .poll(async () => (await get("/v1/conversations")).status, { timeout: 10_000, interval: 250 })
        .toBe(200);
    });

    it("limits one key under its own requests-per-minute, leaving the tenant's other keys alone", async () => {
      const tenant = await api.createTenant();
      await api.db.query("update tenant_policies set requests_per_minute = 100 where tenant_id = $1", [
        tenant.tenantId,
      ]);
      const noisy = await api.createKey(tenant.tenantId, ["conversations:read"]);
      const quiet = await api.createKey(tenant.tenantId, ["conversations:read"]);
      const core = await api.core();
      expect((await core.setApiKeyLimit(tenant.tenantId, noisy.keyId, 2)).requests_per_minute).toBe(2);
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await get("/v1/conversations", noisy.key)).status);
      expect(statuses).toEqual([200, 200, 429, 429]);
      const refused = await get("/v1/conversations", noisy.key);
      expect(refused.headers.get("ratelimit-limit")).toBe("2");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expect((await get("/v1/conversations", quiet.key)).status).toBe(200);
    });
  },
);
