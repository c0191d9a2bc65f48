import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { costOf, fromScaled, normalize, toScaled } from "../support/decimal";
import { hasPostgres } from "../support/requires";

// model names are per test file: prices are global rows, and test files run in parallel
const MODEL = "turns-fake-1";
const CLAUDE = "turns-claude-1";
const PRICE = { input: "1.25", output: "2.5", cached: "0.125" };

interface TurnResponse {
  turn_id: string;
  user_message: { id: string; content: string };
  assistant_message: { id: string; content: string; role: string; parent_id: string };
  usage: { input_tokens: number; output_tokens: number; cached_input_tokens: number };
  cost: { usd: string; pricing_id: string };
  model: string;
  provider: string;
}

describe.runIf(hasPostgres())("chat turns through the local API and the fake provider", () => {
  let api: TestApi;
  let fake: FakeProvider;
  let t: TestTenant;

  const setPolicy = (tenantId: string, policy: Record<string, unknown>) =>
    api.db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [tenantId, JSON.stringify(policy)]);

  const newTenant = async (policy: Record<string, unknown> = {}) => {
    const tenant = await api.createTenant();
    await setPolicy(tenant.tenantId, {
      allowed_providers: ["openai", "anthropic"],
      allowed_models: [MODEL, CLAUDE],
      default_model: MODEL,
      max_output_tokens: 256,
      ...policy,
    });
    return tenant;
  };

  const conversation = async (tenant: TestTenant) =>
    (
      (await (
        await api.fetch("/v1/conversations", { method: "POST", key: tenant.key, json: {} })
      ).json()) as { id: string }
    ).id;

  const turn = (
    tenant: TestTenant,
    convId: string,
    json: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) => api.fetch(`/v1/conversations/${convId}/messages`, { method: "POST", key: tenant.key, json, headers });

  beforeAll(async () => {
    fake = await startFakeProvider();
    api = await startTestApi({
      env: {
        OPENAI_API_KEY: "test-openai-key",
        OPENAI_BASE_URL: fake.openaiBaseUrl,
        ANTHROPIC_API_KEY: "test-anthropic-key",
        ANTHROPIC_BASE_URL: fake.anthropicBaseUrl,
        PROVIDER_RETRY_BASE_MS: "5",
        PROVIDER_RETRY_CAP_MS: "20",
        PROVIDER_TIMEOUT_MS: "3000",
      },
    });
    await api.db.query("select public.set_model_price('openai', $1, $2, $3, $4, now() - interval '1 day')", [
      MODEL,
      PRICE.input,
      PRICE.output,
      PRICE.cached,
    ]);
    await api.db.query(
      "select public.set_model_price('anthropic', $1, $2, $3, $4, now() - interval '1 day')",
      [CLAUDE, PRICE.input, PRICE.output, PRICE.cached],
    );
    t = await newTenant();
  });
  afterAll(async () => {
    await api?.stop();
    await fake?.close();
  });

  it("returns the assistant message, usage and a cost equal to tokens × the live price, to the last digit", async () => {
    const c = await conversation(t);
    for (const model of [MODEL, CLAUDE]) {
      fake.reset();
      const res = await turn(t, c, { content: `Hello there, ${model}!`, model });
      expect(res.status).toBe(201);
      const body = (await res.json()) as TurnResponse;
      expect(body.model).toBe(model);
      expect(body.assistant_message.role).toBe("assistant");
      expect(body.assistant_message.content.length).toBeGreaterThan(0);
      expect(body.assistant_message.parent_id).toBe(body.user_message.id);
      const u = body.usage;
      expect(u.input_tokens).toBeGreaterThan(0);
      expect(u.output_tokens).toBeGreaterThan(0);
      // the usage billed is what the provider reported (its own count, not Candor's estimate)
      const reported = fake.requestLog.at(-1)?.usage;
      expect(reported).toBeDefined();
      expect(u.output_tokens).toBe(reported?.output_tokens);
      expect(u.input_tokens).toBe((reported?.input_tokens ?? 0) + (reported?.cached_input_tokens ?? 0));
      const expected =
        costOf(u.input_tokens - u.cached_input_tokens, PRICE.input) +
        costOf(u.cached_input_tokens, PRICE.cached) +
        costOf(u.output_tokens, PRICE.output);
      expect(normalize(body.cost.usd)).toBe(fromScaled(expected));
      const row = await api.db.query<{ cost_usd: string; pricing_id: string }>(
        "select cost_usd::text, pricing_id::text from cost_events where turn_id = $1",
        [body.turn_id],
      );
      expect(row).toHaveLength(1);
      expect(normalize(row[0]?.cost_usd ?? "x")).toBe(fromScaled(expected));
      expect(row[0]?.pricing_id).toBe(body.cost.pricing_id);
    }
    const msgs = (await (await api.fetch(`/v1/conversations/${c}/messages`, { key: t.key })).json()) as {
      data: { role: string }[];
    };
    expect(msgs.data.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
  });

  it("fails with 503 pricing_unavailable when the model has no price, and never calls the provider", async () => {
    const tenant = await newTenant({
      allowed_models: [MODEL, "unpriced-model"],
      default_model: "unpriced-model",
    });
    await api.db.query("select public.set_model_price('openai', 'unpriced-model', 1, 1)");
    await api.db.query("delete from model_pricing where model = 'unpriced-model'");
    const c = await conversation(tenant);
    fake.reset();
    const core = await api.core();
    const before = core.metrics.totals().pricing_lookup_errors ?? 0;
    const res = await turn(tenant, c, { content: "price me" });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(body.error.code).toBe("pricing_unavailable");
    expect(body.error.type).toBe("service_unavailable");
    expect(fake.requests).toBe(0);
    expect((core.metrics.totals().pricing_lookup_errors ?? 0) - before).toBe(1);
    const charged = await api.db.query<{ n: number }>(
      "select count(*)::int as n from cost_events where tenant_id = $1",
      [tenant.tenantId],
    );
    expect(charged[0]?.n).toBe(0);
    // nothing half-done: no user message was stored for the refused turn
    const msgs = (await (await api.fetch(`/v1/conversations/${c}/messages`, { key: tenant.key })).json()) as {
      data: unknown[];
    };
    expect(msgs.data).toEqual([]);
  });

  it("turns 20 concurrent requests with one Idempotency-Key into one provider call and one cost row", async () => {
    const c = await conversation(t);
    fake.reset();
    fake.setBehavior({ latencyMs: 300 });
    try {
      const key = `idem-${Date.now()}`;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => turn(t, c, { content: "exactly once" }, { "idempotency-key": key })),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(19);
      for (const r of results.filter((x) => x.status === 409))
        expect(r.headers.get("retry-after")).toBeTruthy();
      const first = (
        await Promise.all(results.filter((r) => r.status === 201).map((r) => r.json()))
      )[0] as TurnResponse;
      expect(fake.requests).toBe(1);
      const rows = await api.db.query<{ n: number }>(
        "select count(*)::int as n from cost_events where turn_id = $1",
        [first.turn_id],
      );
      expect(rows[0]?.n).toBe(1);
      fake.setBehavior({ latencyMs: 0 });
      for (let i = 0; i < 3; i++) {
        const replay = await turn(t, c, { content: "exactly once" }, { "idempotency-key": key });
        expect(replay.status).toBe(201);
        expect(replay.headers.get("idempotent-replayed")).toBe("true");
        expect(await replay.json()).toEqual(first);
      }
      expect(fake.requests).toBe(1);
      const conflict = await turn(t, c, { content: "something else" }, { "idempotency-key": key });
      expect(conflict.status).toBe(409);
      expect(fake.requests).toBe(1);
    } finally {
      fake.setBehavior({ latencyMs: 0 });
    }
  });

  it("refuses with 402 before calling the provider once a $0.01 budget would be exceeded", async () => {
    const tenant = await newTenant({ monthly_budget_usd: "0.01", max_output_tokens: 100 });
    const c = await conversation(tenant);
    fake.reset();
    let ok = 0;
    let refused: Response | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      const res = await turn(tenant, c, { content: "x ".repeat(400) });
      if (res.status === 201) ok++;
      else refused = res;
    }
    expect(ok).toBeGreaterThan(0);
    expect(refused?.status).toBe(402);
    const body = (await refused?.json()) as { error: { type: string } };
    expect(body.error.type).toBe("budget_exceeded");
    expect(fake.requests).toBe(ok); // the refused turn never reached the provider
    const spend = await api.db.query<{ spend: string; reserved: string }>(
      "select spend_usd::text as spend, reserved_usd::text as reserved from tenant_spend where tenant_id = $1",
      [tenant.tenantId],
    );
    expect(toScaled(spend[0]?.spend ?? "1")).toBeLessThanOrEqual(toScaled("0.01"));
    expect(toScaled(spend[0]?.reserved ?? "1")).toBe(0n);
  });

  it("survives 200 turns with random provider failures and client retries: no duplicate, no missing row, exact sum", async () => {
    const tenant = await newTenant();
    const c = await conversation(tenant);
    fake.reset();
    fake.setBehavior({ failRate: 0.45, failStatus: 500, failSeed: 7 });
    try {
      const turnIds = new Set<string>();
      let clientRetries = 0;
      for (let i = 0; i < 200; i++) {
        const key = `crash-${i}`;
        for (let attempt = 0; ; attempt++) {
          const res = await turn(tenant, c, { content: `turn ${i}` }, { "idempotency-key": key });
          if (res.status === 201) {
            turnIds.add(((await res.json()) as TurnResponse).turn_id);
            break;
          }
          expect([502, 409]).toContain(res.status);
          clientRetries++;
          expect(attempt).toBeLessThan(30);
        }
      }
      expect(turnIds.size).toBe(200);
      expect(clientRetries).toBeGreaterThan(0);
      const ledger = await api.db.query<{ n: number; distinct_turns: number; total: string }>(
        `select count(*)::int as n, count(distinct turn_id)::int as distinct_turns, coalesce(sum(cost_usd), 0)::text as total
           from cost_events where tenant_id = $1`,
        [tenant.tenantId],
      );
      expect(ledger[0]?.n).toBe(200);
      expect(ledger[0]?.distinct_turns).toBe(200);
      const successes = fake.requestLog.filter((r) => r.status === 200 && r.usage);
      expect(successes).toHaveLength(200);
      let expected = 0n;
      for (const r of successes) {
        const u = r.usage as { input_tokens: number; output_tokens: number; cached_input_tokens: number };
        expected +=
          costOf(u.input_tokens, PRICE.input) +
          costOf(u.cached_input_tokens, PRICE.cached) +
          costOf(u.output_tokens, PRICE.output);
      }
      expect(normalize(ledger[0]?.total ?? "x")).toBe(fromScaled(expected));
      const usage = (await (
        await api.fetch("/v1/usage?group_by=conversation", { key: tenant.key })
      ).json()) as {
        total_usd: string;
        data: { key: string; cost_usd: string; turns: number }[];
      };
      expect(normalize(usage.total_usd)).toBe(fromScaled(expected));
      expect(usage.data).toHaveLength(1);
      expect(usage.data[0]?.turns).toBe(200);
    } finally {
      fake.setBehavior({ failRate: 0 });
    }
  }, 120_000);

  it("lets a retry take over a turn whose process died, once its lease has expired", async () => {
    const c = await conversation(t);
    const key = `lease-${Date.now()}`;
    // a process that began the turn and died: the running row, with an already expired lease
    const begun = await api.db.query<{ r: { turn_id: string; status: string } }>(
      `select public.begin_turn($1, 'conversation', $2, null, $3, 'main', 'crashed before the provider', $4, null, 10, 1) as r`,
      [t.tenantId, "not-the-same-hash", c, key],
    );
    expect(begun[0]?.r.status).toBe("started");
    const early = await turn(t, c, { content: "retry me" }, { "idempotency-key": key });
    expect(early.status).toBe(409); // different body than the stored hash: a conflict, not a takeover
    await api.db.query(
      "update turns set lease_expires_at = now() - interval '1 second', request_hash = $2 where id = $1",
      [begun[0]?.r.turn_id, "replaced-below"],
    );
    // same body as the retry: make the stored hash match what the API computes for it
    const { requestHash } = await import("../../packages/functions/src/http/idempotency");
    const { TurnBody } = await import("../../packages/functions/src/turns");
    const hash = requestHash(
      "POST /v1/conversations/{id}/messages",
      { id: c },
      TurnBody.parse({ content: "retry me" }),
    );
    await api.db.query("update turns set request_hash = $2 where id = $1", [begun[0]?.r.turn_id, hash]);
    fake.reset();
    const retried = await turn(t, c, { content: "retry me" }, { "idempotency-key": key });
    expect(retried.status).toBe(201);
    expect(((await retried.json()) as TurnResponse).turn_id).toBe(begun[0]?.r.turn_id);
    expect(fake.requests).toBe(1);
    const attempt = await api.db.query<{ attempt: number; status: string }>(
      "select attempt, status from turns where id = $1",
      [begun[0]?.r.turn_id],
    );
    expect(attempt[0]).toEqual({ attempt: 2, status: "completed" });
  });
});
