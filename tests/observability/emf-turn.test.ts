import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres, hasRedis } from "../support/requires";
import { type CapturedOutput, captureOutput, type EmfDocument, emfDocuments, metricValues } from "./capture";

/**
 * A chat turn through the local API (fake provider, real SDK) prints the metric names of the issue
 * in EMF: the dependency and cache metrics of every request, plus the provider's latency and errors
 * (dimension `provider`) and pricing lookup failures.
 */

const SERVICE = "candor-api";
const MODEL = "candor-fake-1";
const UNPRICED = "candor-fake-unpriced";

describe.runIf(hasPostgres() && hasRedis())("EMF metrics of a chat turn", () => {
  let api: TestApi;
  let fake: FakeProvider;
  let t: TestTenant;
  let out: CapturedOutput;
  let conversationId: string;

  beforeAll(async () => {
    out = captureOutput();
    fake = await startFakeProvider();
    api = await startTestApi({
      redis: true,
      env: {
        POWERTOOLS_METRICS_DISABLED: "false",
        // generous: on a loaded 2-core runner a healthy Redis call must not be taken for an outage
        REDIS_TIMEOUT_MS: "1000",
        OPENAI_API_KEY: "test-openai-key",
        OPENAI_BASE_URL: fake.openaiBaseUrl,
        PROVIDER_RETRY_BASE_MS: "5",
        PROVIDER_RETRY_CAP_MS: "20",
        PROVIDER_TIMEOUT_MS: "3000",
      },
    });
    await api.db.query(
      "select public.set_model_price('openai', $1, '1', '2', '0.5', now() - interval '1 day')",
      [MODEL],
    );
    t = await api.createTenant();
    await api.db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [
      t.tenantId,
      JSON.stringify({
        allowed_providers: ["openai"],
        allowed_models: [MODEL, UNPRICED],
        default_model: MODEL,
        max_output_tokens: 64,
        requests_per_minute: 10_000,
        tokens_per_minute: 1_000_000,
      }),
    ]);
    const conv = await api.fetch("/v1/conversations", { method: "POST", key: t.key, json: {} });
    conversationId = ((await conv.json()) as { id: string }).id;
  });
  afterAll(async () => {
    out?.restore();
    await api?.stop();
    await fake?.close();
  });

  const apiDocs = (mark: number): EmfDocument[] =>
    emfDocuments(out.lines(mark)).filter((d) => d.dimensions.service === SERVICE);
  const turn = (json: Record<string, unknown>) =>
    api.fetch(`/v1/conversations/${conversationId}/messages`, { method: "POST", key: t.key, json });

  it("prints the request metrics and provider_latency with its provider dimension", async () => {
    const res = await turn({ content: "Hello, metrics" });
    expect(res.status).toBe(201);
    const docs = apiDocs(0);
    const names = new Set(docs.flatMap((d) => Object.keys(d.values)));
    for (const name of [
      "supabase_connection_status",
      "redis_connection_status",
      "rate_limiter_type",
      "cache_type",
      "cache_hit_rate",
      "database_query_duration",
      "rate_limit_checks_per_second",
      "provider_latency",
    ]) {
      expect(names.has(name), name).toBe(true);
    }
    const latency = docs.filter((d) => d.values.provider_latency);
    expect(latency[0]?.dimensions).toMatchObject({ provider: "openai", service: SERVICE, stage: "test" });
    expect(latency[0]?.units.provider_latency).toBe("Milliseconds");
    expect(names.has("provider_errors")).toBe(false);
    expect(names.has("pricing_lookup_errors")).toBe(false);
  });

  it("counts pricing_lookup_errors for a model without a live price", async () => {
    const mark = out.mark();
    const res = await turn({ content: "Hello, unpriced", model: UNPRICED });
    expect(res.status).toBe(503);
    expect(metricValues(apiDocs(mark), "pricing_lookup_errors")).toEqual([1]);
    expect(fake.requests).toBeGreaterThanOrEqual(1);
  });

  it("counts provider_errors, per provider, when the provider fails", async () => {
    const mark = out.mark();
    fake.setBehavior({ status: 500 });
    try {
      const res = await turn({ content: "Hello, failure" });
      expect(res.status).toBeGreaterThanOrEqual(500);
    } finally {
      fake.setBehavior({ status: null });
    }
    const errors = apiDocs(mark).filter((d) => d.values.provider_errors);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const d of errors) expect(d.dimensions.provider).toBe("openai");
  });
});
