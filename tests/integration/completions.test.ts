import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres, hasRedis } from "../support/requires";

// model names are per test file: prices are global rows, and test files run in parallel
const MODEL = "completions-fake-1";

describe.runIf(hasPostgres())(
  "OpenAI-compatible /v1/chat/completions, driven by the official openai client",
  () => {
    let api: TestApi;
    let fake: FakeProvider;
    let t: TestTenant;
    let client: OpenAI;

    const policy = (tenantId: string, p: Record<string, unknown>) =>
      api.db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [tenantId, JSON.stringify(p)]);

    beforeAll(async () => {
      fake = await startFakeProvider();
      api = await startTestApi({
        redis: hasRedis(),
        env: { OPENAI_API_KEY: "k", OPENAI_BASE_URL: fake.openaiBaseUrl },
      });
      await api.db.query(
        "select public.set_model_price('openai', $1, '0.5', '1.5', null, now() - interval '1 hour')",
        [MODEL],
      );
      t = await api.createTenant();
      await policy(t.tenantId, {
        allowed_providers: ["openai"],
        allowed_models: [MODEL],
        default_model: MODEL,
      });
      client = new OpenAI({ apiKey: t.key, baseURL: `${api.url}/v1`, maxRetries: 0 });
    });
    afterAll(async () => {
      await api?.stop();
      await fake?.close();
    });

    it("completes a chat unchanged through the openai client, with usage and one cost row", async () => {
      fake.reset();
      const res = await client.chat.completions.create({
        model: MODEL,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Say hello to Candor." },
        ],
        max_tokens: 50,
      });
      expect(res.object).toBe("chat.completion");
      expect(res.model).toBe(MODEL);
      expect(res.choices[0]?.message.role).toBe("assistant");
      expect(res.choices[0]?.message.content?.length).toBeGreaterThan(0);
      expect(res.usage?.prompt_tokens).toBe(fake.requestLog.at(-1)?.usage?.input_tokens);
      expect(res.usage?.total_tokens).toBe(
        (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0),
      );
      const turnId = res.id.replace("chatcmpl-", "");
      const rows = await api.db.query<{ n: number }>(
        "select count(*)::int as n from cost_events where turn_id = $1",
        [turnId],
      );
      expect(rows[0]?.n).toBe(1);
      expect(fake.requests).toBe(1);
    });

    it("lists the tenant's models with their live price", async () => {
      const models = await client.models.list();
      const ids = models.data.map((m) => m.id);
      expect(ids).toEqual([MODEL]);
      const m = models.data[0] as unknown as { owned_by: string; pricing: { input_usd_per_mtok: string } };
      expect(m.owned_by).toBe("openai");
      expect(Number(m.pricing.input_usd_per_mtok)).toBe(0.5);
    });

    it("surfaces our 429 as a typed RateLimitError and our 402 as a typed APIError", async () => {
      const limited = await api.createTenant();
      await policy(limited.tenantId, {
        allowed_providers: ["openai"],
        allowed_models: [MODEL],
        default_model: MODEL,
        monthly_budget_usd: "0",
      });
      const c = new OpenAI({ apiKey: limited.key, baseURL: `${api.url}/v1`, maxRetries: 0 });
      const budget = await c.chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "hi" }] })
        .catch((e: unknown) => e);
      expect(budget).toBeInstanceOf(OpenAI.APIError);
      expect((budget as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
      expect((budget as InstanceType<typeof OpenAI.APIError>).type).toBe("budget_exceeded");

      const bad = await c.chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "hi" }], n: 2 })
        .catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
      expect((bad as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("n");
    });

    it.runIf(hasRedis())("surfaces the tenant's rate limit as a typed RateLimitError", async () => {
      const limited = await api.createTenant();
      await policy(limited.tenantId, {
        allowed_providers: ["openai"],
        allowed_models: [MODEL],
        default_model: MODEL,
        requests_per_minute: 1,
      });
      const c = new OpenAI({ apiKey: limited.key, baseURL: `${api.url}/v1`, maxRetries: 0 });
      const ok = await c.chat.completions.create({
        model: MODEL,
        messages: [{ role: "user", content: "one" }],
      });
      expect(ok.choices).toHaveLength(1);
      const limitedErr = await c.chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "two" }] })
        .catch((e: unknown) => e);
      expect(limitedErr).toBeInstanceOf(OpenAI.RateLimitError);
      const e = limitedErr as InstanceType<typeof OpenAI.RateLimitError>;
      expect(e.status).toBe(429);
      expect(e.type).toBe("rate_limit_error");
      expect(Number(e.headers?.get("retry-after"))).toBeGreaterThan(0);
      expect(e.headers?.get("ratelimit-limit")).toBe("1");
    });

    it("answers stream: true with a 400 that points to the realtime service", async () => {
      const err = await client.chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "hi" }], stream: true })
        .then(async (s) => {
          for await (const _ of s) {
            // drain
          }
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("stream");
    });
  },
);
