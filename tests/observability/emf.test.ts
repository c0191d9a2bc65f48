import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres, hasRedis } from "../support/requires";
import { type CapturedOutput, captureOutput, type EmfDocument, emfDocuments, metricValues } from "./capture";

/**
 * The metrics of ARCHITECTURE.md as CloudWatch sees them: EMF documents on stdout, written by the
 * real handlers behind the local API Gateway adapter, with Redis and Postgres behind proxies that
 * the test cuts. (vitest.config.ts disables EMF for every other test; this file turns it back on
 * before the handlers' cold start.)
 * The turn route's own metrics (provider latency and errors, pricing lookups): emf-turn.test.ts.
 */

const SERVICE = "candor-api";
const STAGE = "test";

/** Emitted by the graph routes on a healthy run with Upstash chosen. */
const HEALTHY_METRICS = [
  "supabase_connection_status",
  "redis_connection_status",
  "rate_limiter_type",
  "cache_type",
  "cache_hit_rate",
  "database_query_duration",
  "rate_limit_checks_per_second",
] as const;

describe.runIf(hasPostgres() && hasRedis())("EMF metrics from the local API", () => {
  let api: TestApi;
  let t: TestTenant;
  let out: CapturedOutput;
  let conversationId: string;

  beforeAll(async () => {
    out = captureOutput();
    api = await startTestApi({
      redis: true,
      // long enough that the breaker stays open for the whole Redis-down phase
      // a generous Redis timeout: on a loaded 2-core runner a healthy call must not be taken for an outage
      env: {
        POWERTOOLS_METRICS_DISABLED: "false",
        REDIS_BREAKER_OPEN_MS: "60000",
        REDIS_TIMEOUT_MS: "1000",
        CANDOR_STAGE: STAGE,
      },
    });
    t = await api.createTenant();
    // limits make the rate limiter ask Redis (a tenant without limits is never checked)
    await api.db.query(
      `insert into public.tenant_policies (tenant_id, requests_per_minute, tokens_per_minute)
       values ($1, 10000, 1000000)
       on conflict (tenant_id) do update set requests_per_minute = 10000, tokens_per_minute = 1000000`,
      [t.tenantId],
    );
  });
  afterAll(async () => {
    out?.restore();
    await api?.stop();
  });

  const docsSince = (mark: number): EmfDocument[] => emfDocuments(out.lines(mark));

  it("writes the dependency, cache, limiter and database metrics in namespace Candor with service and stage", async () => {
    const mark = out.mark();
    const created = await api.fetch("/v1/conversations", {
      method: "POST",
      key: t.key,
      json: { title: "emf" },
    });
    expect(created.status).toBe(201);
    conversationId = ((await created.json()) as { id: string }).id;
    for (let i = 0; i < 3; i++) {
      expect((await api.fetch(`/v1/conversations/${conversationId}`, { key: t.key })).status).toBe(200);
    }
    expect((await api.fetch("/v1/conversations", { key: t.key })).status).toBe(200);

    const docs = docsSince(mark);
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) {
      expect(d.namespace).toBe("Candor");
      expect(d.dimensions.service).toBe(SERVICE);
      expect(d.dimensions.stage).toBe(STAGE);
      // service and stage are in every dimension set, so every alarm can key on them
      for (const set of d.dimensionSets) expect(set).toEqual(expect.arrayContaining(["service", "stage"]));
    }
    const names = new Set(docs.flatMap((d) => Object.keys(d.values)));
    for (const name of HEALTHY_METRICS) expect(names.has(name), name).toBe(true);
    expect(names.has("rate_limit_bypass_count")).toBe(false);
    expect(names.has("cache_bypass_count")).toBe(false);

    // healthy: every status gauge says up
    expect(metricValues(docs, "supabase_connection_status").every((v) => v === 1)).toBe(true);
    expect(metricValues(docs, "redis_connection_status").every((v) => v === 1)).toBe(true);
    expect(docs.find((d) => d.values.database_query_duration)?.units.database_query_duration).toBe(
      "Milliseconds",
    );
    // rate_limit_checks_per_second is a count (Sum per minute on the dashboard), one per checked request
    expect(docs.find((d) => d.values.rate_limit_checks_per_second)?.units.rate_limit_checks_per_second).toBe(
      "Count",
    );
    expect(metricValues(docs, "rate_limit_checks_per_second").reduce((a, b) => a + b, 0)).toBe(5);
    // the second and third reads of the conversation came from the cache
    expect(metricValues(docs, "cache_hit_rate")).toContain(100);
  });

  it("says at cold start which adapters were chosen, as a metric with its own dimension", () => {
    // (the harness's own seeding core, service candor-test-admin, is not the API's)
    const docs = emfDocuments(out.lines()).filter((d) => d.dimensions.service === SERVICE);
    const limiter = docs.filter((d) => d.values.rate_limiter_type);
    expect(limiter).toHaveLength(1);
    expect(limiter[0]?.dimensions).toMatchObject({ type: "upstash", service: SERVICE, stage: STAGE });
    const caches = docs
      .filter((d) => d.values.cache_type)
      .map((d) => `${d.dimensions.cache}=${d.dimensions.type}`);
    expect(caches.sort()).toEqual(["auth=upstash", "conversation=upstash"]);
    // the dimension does not leak onto the other metrics
    const others = docs.filter((d) => !d.values.rate_limiter_type && !d.values.cache_type);
    for (const d of others) expect(d.dimensions.type).toBeUndefined();
  });

  it("with Redis cut: counts rate-limit and cache bypasses and reports redis_connection_status 0", async () => {
    const mark = out.mark();
    await api.redisLink?.cut();
    try {
      for (let i = 0; i < 6; i++) {
        const res = await api.fetch(`/v1/conversations/${conversationId}`, { key: t.key });
        // fail open and through: the request is served from the database
        expect(res.status).toBe(200);
        expect(res.headers.get("x-ratelimit-mode")).toBe("bypassed");
      }
    } finally {
      await api.redisLink?.restore();
    }
    const docs = docsSince(mark);
    const bypassRl = metricValues(docs, "rate_limit_bypass_count");
    const bypassCache = metricValues(docs, "cache_bypass_count");
    expect(bypassRl.reduce((a, b) => a + b, 0)).toBe(6);
    // the auth cache and the conversation cache, on each of the 6 requests
    expect(bypassCache.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(12);
    const redis = metricValues(docs, "redis_connection_status");
    expect(redis.length).toBeGreaterThan(0);
    expect(redis.every((v) => v === 0)).toBe(true);
    // Postgres was fine all along
    expect(metricValues(docs, "supabase_connection_status").every((v) => v === 1)).toBe(true);
    expect(metricValues(docs, "cache_hit_rate").every((v) => v === 0)).toBe(true);
  });

  it("with Postgres cut: supabase_connection_status 0 and auth_validation_errors for an uncached key", async () => {
    const fresh = await api.createKey(t.tenantId, ["conversations:read"]);
    const mark = out.mark();
    await api.postgresLink.cut();
    try {
      const res = await api.fetch("/v1/conversations", { key: fresh.key });
      expect(res.status).toBe(503);
    } finally {
      await api.postgresLink.restore();
    }
    const docs = docsSince(mark);
    expect(metricValues(docs, "auth_validation_errors")).toEqual([1]);
    expect(metricValues(docs, "supabase_connection_status")).toContain(0);
    expect(metricValues(docs, "supabase_connection_status")).not.toContain(1);
  });
});
