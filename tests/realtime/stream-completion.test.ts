import type { PostgresRealtime } from "@candor/realtime";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { startTestRealtime, waitFor } from "./support/realtime-harness";

// model names are per test file: prices are global rows, and test files run in parallel
const MODEL = "stream-fake-1";

describe.runIf(hasPostgres())(
  "streaming chat completions (realtime service) through the official openai client",
  () => {
    let api: TestApi;
    let fake: FakeProvider;
    let realtime: PostgresRealtime;
    let tenant: TestTenant;

    beforeAll(async () => {
      fake = await startFakeProvider();
      const providerEnv = { OPENAI_API_KEY: "k", OPENAI_BASE_URL: fake.openaiBaseUrl };
      api = await startTestApi({ env: providerEnv });
      realtime = await startTestRealtime(api, providerEnv);
      await api.db.query(
        "select public.set_model_price('openai', $1, '1', '3', null, now() - interval '1 day')",
        [MODEL],
      );
      tenant = await api.createTenant();
      await api.db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [
        tenant.tenantId,
        JSON.stringify({ allowed_providers: ["openai"], allowed_models: [MODEL], default_model: MODEL }),
      ]);
    });
    afterAll(async () => {
      await realtime?.stop();
      await api?.stop();
      await fake?.close();
    });

    const costRows = async (turnId: string) =>
      (
        await api.db.query<{ n: number; cost: string | null }>(
          "select count(*)::int as n, max(cost_usd)::text as cost from cost_events where turn_id = $1",
          [turnId],
        )
      )[0];

    it("streams the same text as the non-streaming route and writes one cost row", async () => {
      const messages = [{ role: "user" as const, content: "Tell me about streams, please." }];
      const lambda = new OpenAI({ apiKey: tenant.key, baseURL: `${api.url}/v1`, maxRetries: 0 });
      const plain = await lambda.chat.completions.create({ model: MODEL, messages });

      const stream = new OpenAI({ apiKey: tenant.key, baseURL: `${realtime.url}/v1`, maxRetries: 0 });
      fake.reset();
      const chunks = await stream.chat.completions.create({
        model: MODEL,
        messages,
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let id = "";
      let usage: OpenAI.CompletionUsage | undefined;
      let deltas = 0;
      for await (const chunk of chunks) {
        id = chunk.id;
        const d = chunk.choices[0]?.delta?.content;
        if (d) {
          text += d;
          deltas++;
        }
        if (chunk.usage) usage = chunk.usage;
      }
      expect(text).toBe(plain.choices[0]?.message.content);
      expect(deltas).toBeGreaterThan(1); // really streamed, not one block
      expect(usage?.prompt_tokens).toBe(plain.usage?.prompt_tokens);
      expect(usage?.completion_tokens).toBe(plain.usage?.completion_tokens);
      expect(fake.requestLog.at(-1)?.stream).toBe(true);
      const turnId = id.replace("chatcmpl-", "");
      const row = await costRows(turnId);
      expect(row?.n).toBe(1);
      // billed at the end from the provider's usage: prompt × 1 + completion × 3 per million tokens
      const expected = ((usage?.prompt_tokens ?? 0) * 1 + (usage?.completion_tokens ?? 0) * 3) / 1e6;
      expect(Number(row?.cost)).toBeCloseTo(expected, 12);
    });

    it("aborts the provider call when the client leaves mid-stream, and bills only what the provider reported", async () => {
      fake.reset();
      fake.setBehavior({ streamChunkDelayMs: 50, replyWords: 200 });
      try {
        const controller = new AbortController();
        const res = await fetch(`${realtime.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: MODEL,
            messages: [{ role: "user", content: "long one" }],
            stream: true,
          }),
          signal: controller.signal,
        });
        expect(res.status).toBe(200);
        const reader = res.body?.getReader();
        const first = await reader?.read();
        const head = new TextDecoder().decode(first?.value);
        const turnId = /chatcmpl-([0-9a-f-]{36})/.exec(head)?.[1] as string;
        expect(turnId).toBeTruthy();
        controller.abort();
        await waitFor(
          async () => fake.requestLog.at(-1)?.aborted === true,
          10_000,
          "provider request aborted",
        );
        await waitFor(
          async () =>
            (await api.db.query<{ status: string }>("select status from turns where id = $1", [turnId]))[0]
              ?.status === "failed",
          10_000,
          "turn marked failed",
        );
        // the OpenAI wire format reports usage only at the end: an aborted stream reported none
        expect((await costRows(turnId))?.n).toBe(0);
      } finally {
        fake.setBehavior({ streamChunkDelayMs: 0, replyWords: null });
      }
    });

    it("refuses like the API before streaming: auth, validation and pricing errors are JSON envelopes", async () => {
      const client = new OpenAI({ apiKey: tenant.key, baseURL: `${realtime.url}/v1`, maxRetries: 0 });
      const unknown = await client.chat.completions
        .create({ model: "no-such-model", messages: [{ role: "user", content: "x" }], stream: true })
        .catch((e: unknown) => e);
      expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
      const anonymous = new OpenAI({
        apiKey: "cnd_live_wrongwrongwrongwrongwrongwrongwr",
        baseURL: `${realtime.url}/v1`,
        maxRetries: 0,
      });
      const denied = await anonymous.chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "x" }], stream: true })
        .catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
    });
  },
);
