import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres, hasRedis } from "../support/requires";
import { type CapturedOutput, captureOutput, logRecords } from "./capture";

/**
 * What the handlers write to stdout/stderr (what CloudWatch Logs would keep), captured while requests
 * carrying a prompt go through the local API, healthy and failing: with Redis cut, with Postgres cut,
 * with the provider failing, with bad bodies and bad keys. No key, secret or prompt may appear;
 * dependency changes are logged once per change, and every line carries its context.
 */

const SERVICE = "candor-api";
const MODEL = "candor-fake-1";
const UNPRICED = "candor-fake-unpriced";
// a prompt no code path has any reason to print: if it shows up, something logged a body
const PROMPT = `Summarise my plan, code word ${randomUUID()}: move the funds on Friday`;
const PROMPT_WORD = PROMPT.split("code word ")[1]?.split(":")[0] ?? "";
const PROVIDER_KEY = `sk-test-${randomUUID()}`;

describe.runIf(hasPostgres() && hasRedis())("logs of the local API", () => {
  let api: TestApi;
  let fake: FakeProvider;
  let t: TestTenant;
  let out: CapturedOutput;
  let secrets: Record<string, string>;
  const statuses: Record<string, number> = {};

  const record = async (label: string, res: Promise<Response>) => {
    const r = await res;
    statuses[label] = r.status;
    await r.text();
    return r.status;
  };

  beforeAll(async () => {
    out = captureOutput();
    fake = await startFakeProvider();
    api = await startTestApi({
      redis: true,
      env: {
        // everything the code can log, and the metrics too: EMF lines must not carry data either
        LOG_LEVEL: "DEBUG",
        POWERTOOLS_METRICS_DISABLED: "false",
        // generous: on a loaded 2-core runner a healthy Redis call must not be taken for an outage
        REDIS_TIMEOUT_MS: "1000",
        OPENAI_API_KEY: PROVIDER_KEY,
        OPENAI_BASE_URL: fake.openaiBaseUrl,
        PROVIDER_RETRY_BASE_MS: "5",
        PROVIDER_RETRY_CAP_MS: "20",
        PROVIDER_TIMEOUT_MS: "3000",
        REDIS_BREAKER_OPEN_MS: "200",
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
      }),
    ]);
    const core = await api.core();
    secrets = {
      apiKey: t.key,
      // the part after the public prefix, on its own
      apiKeySecretPart: t.key.slice(-24),
      serviceRoleKey: core.config.supabase.serviceRoleKey,
      upstashToken: core.config.upstash?.token ?? "",
      providerKey: PROVIDER_KEY,
    };
    expect(secrets.upstashToken).not.toBe("");

    const key = t.key;
    const post = (path: string, json: unknown, k = key) => api.fetch(path, { method: "POST", key: k, json });

    // healthy, with the prompt in every body
    await record("context", post("/v1/contexts", { name: "plan", content: PROMPT }));
    const conv = await api.fetch("/v1/conversations", {
      method: "POST",
      key,
      json: { title: PROMPT.slice(0, 60) },
    });
    statuses.conversation = conv.status;
    const convId = ((await conv.json()) as { id: string }).id;
    await record("turn", post(`/v1/conversations/${convId}/messages`, { content: PROMPT }));

    // failing: bad bodies, bad keys, a model without a price, the provider down
    await record("strict body", post("/v1/contexts", { name: "x", content: PROMPT, [PROMPT]: PROMPT }));
    await record(
      "broken json",
      api.fetch("/v1/contexts", {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: `{"name":"x","content":"${PROMPT}`,
      }),
    );
    await record("bad cursor", api.fetch(`/v1/contexts?cursor=${encodeURIComponent(PROMPT)}`, { key }));
    await record("unknown key", api.fetch("/v1/contexts", { key: `${key.slice(0, -4)}abcd` }));
    await record(
      "malformed auth",
      api.fetch("/v1/contexts", { headers: { authorization: `Bearer ${key} ${PROMPT}` } }),
    );
    await record(
      "unpriced model",
      post(`/v1/conversations/${convId}/messages`, { content: PROMPT, model: UNPRICED }),
    );
    fake.setBehavior({ status: 500 });
    await record("provider 500", post(`/v1/conversations/${convId}/messages`, { content: PROMPT }));
    fake.setBehavior({ status: null });

    // Redis down: served (fail open, fail through), then back
    await api.redisLink?.cut();
    for (let i = 0; i < 5; i++)
      await record(`redis down ${i}`, post("/v1/contexts", { name: "r", content: PROMPT }));
    await api.redisLink?.restore();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 3; i++) await record(`redis back ${i}`, api.fetch("/v1/contexts", { key }));

    // Postgres down: refused (fail closed), then back
    await api.postgresLink.cut();
    for (let i = 0; i < 3; i++)
      await record(`pg down ${i}`, post("/v1/contexts", { name: "p", content: PROMPT }));
    await api.postgresLink.restore();
    for (let i = 0; i < 50 && (await record("pg back", api.fetch("/v1/contexts", { key }))) !== 200; i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 60_000);

  afterAll(async () => {
    out?.restore();
    await api?.stop();
    await fake?.close();
  });

  it("drove healthy and failing requests (the greps below are not vacuous)", () => {
    expect(statuses).toMatchObject({
      context: 201,
      conversation: 201,
      turn: 201,
      "strict body": 400,
      "broken json": 400,
      "bad cursor": 400,
      "unknown key": 401,
      "malformed auth": 401,
      "redis down 0": 201,
      "pg down 0": 503,
      "pg back": 200,
    });
    expect(statuses["unpriced model"]).toBeGreaterThanOrEqual(400);
    expect(statuses["provider 500"]).toBeGreaterThanOrEqual(500);
    expect(logRecords(out.lines()).length).toBeGreaterThan(5);
  });

  it("contains no API key, secret or prompt, in any line, log or metric", () => {
    const text = out.text();
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
    expect(text.includes(PROMPT), "prompt").toBe(false);
    expect(text.includes(PROMPT_WORD), "prompt code word").toBe(false);
    expect(text.includes("move the funds"), "prompt fragment").toBe(false);
  });

  it("says once, at cold start, which adapters were chosen", () => {
    const chosen = logRecords(out.lines()).filter(
      (r) => r.message === "adapters selected" && r.service === SERVICE,
    );
    expect(chosen).toHaveLength(1);
    expect(chosen[0]).toMatchObject({
      rate_limiter: "upstash",
      auth_cache: "upstash",
      conversation_cache: "upstash",
    });
  });

  it("logs each dependency change once, not once per failed request", () => {
    const changes = logRecords(out.lines())
      .filter((r) => r.message === "dependency state changed" && r.service === SERVICE)
      .map((r) => `${String(r.dependency)}:${String(r.to)}`);
    // five requests with Redis down, three with Postgres down: one line each way
    expect(changes.filter((c) => c === "redis:down")).toHaveLength(1);
    expect(changes.filter((c) => c === "redis:up")).toHaveLength(1);
    expect(changes.filter((c) => c === "supabase:down")).toHaveLength(1);
    expect(changes.filter((c) => c === "supabase:up")).toHaveLength(1);
    expect(changes.indexOf("redis:down")).toBeLessThan(changes.indexOf("redis:up"));
  });

  it("puts service, stage, request id, cold start and tenant id on the request's lines", () => {
    const lines = logRecords(out.lines()).filter((r) => r.service === SERVICE);
    for (const r of lines) {
      expect(r.stage, String(r.message)).toBe("test");
      expect(typeof r.level).toBe("string");
      expect(typeof r.timestamp).toBe("string");
    }
    const inRequest = lines.filter((r) => r.request_id !== undefined);
    expect(inRequest.length).toBeGreaterThan(0);
    for (const r of inRequest) {
      expect(r.request_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof r.cold_start).toBe("boolean");
      expect(typeof r.route).toBe("string");
    }
    // Postgres went down after authentication had passed (the key was cached): the line names the tenant
    const pgDown = lines.find((r) => r.message === "dependency state changed" && r.dependency === "supabase");
    expect(pgDown?.tenant_id).toBe(t.tenantId);
    // keys are per invocation: only the cold start's request is marked so, later ones are not
    const cold = new Set(inRequest.filter((r) => r.cold_start === true).map((r) => r.request_id));
    expect(cold.size).toBeLessThanOrEqual(1);
    expect(inRequest.some((r) => r.cold_start === false)).toBe(true);
  });
});
