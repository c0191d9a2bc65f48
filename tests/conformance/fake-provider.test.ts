/**
 * Fake model server conformance (STYLE.md rule 11): the real `@anthropic-ai/sdk` and `openai` clients,
 * SDK retries off, against infra/local/fake-provider over real HTTP. What the SDKs type and raise here
 * is what Candor's provider adapters will see from the real APIs.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  countTokens,
  type FakeProvider,
  type FakeRequestLogEntry,
  startFakeProvider,
} from "../../infra/local/fake-provider";

const KEY = "sk-test-fake-provider";
let fake: FakeProvider;
let claude: Anthropic;
let gpt: OpenAI;

beforeAll(async () => {
  fake = await startFakeProvider();
  claude = new Anthropic({ apiKey: KEY, baseURL: fake.anthropicBaseUrl, maxRetries: 0 });
  gpt = new OpenAI({ apiKey: KEY, baseURL: fake.openaiBaseUrl, maxRetries: 0 });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
});

const lastEntry = (): FakeRequestLogEntry => {
  const entry = fake.requestLog.at(-1);
  if (!entry) throw new Error("no request logged");
  return entry;
};

/** Resolves with what `promise` threw; fails the test when it resolved. */
async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

const SYSTEM = "Be brief.";
const TURNS = [
  { role: "user" as const, content: "What is two plus two?" },
  { role: "assistant" as const, content: "Four." },
  { role: "user" as const, content: "Hello, world!" },
];
// the documented rule: 1 per role + tokens of the text; "Be brief." = 3, "What is two plus two?" = 6,
// "Four." = 2, "Hello, world!" = 4
const PROMPT_TOKENS = 1 + 3 + (1 + 6) + (1 + 2) + (1 + 4);
const REPLY = "Echo: Hello, world!";
const REPLY_TOKENS = 6;

describe("token rule", () => {
  it("counts runs of letters/digits and single punctuation, whitespace free", () => {
    expect(countTokens("Hello, world!")).toBe(4);
    expect(countTokens("  snake_case 42x  ")).toBe(2);
    expect(countTokens("")).toBe(0);
    expect(countTokens(REPLY)).toBe(REPLY_TOKENS);
  });
});

describe("Anthropic Messages through @anthropic-ai/sdk", () => {
  const params = { model: "claude-sonnet-4-5", max_tokens: 256, system: SYSTEM, messages: TURNS };

  it("answers a typed message with the echo of the last user message and real usage", async () => {
    const message = await claude.messages.create(params);
    expect(message.id).toMatch(/^msg_/);
    expect(message.type).toBe("message");
    expect(message.role).toBe("assistant");
    expect(message.model).toBe("claude-sonnet-4-5");
    expect(message.content).toEqual([{ type: "text", text: REPLY }]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.stop_sequence).toBeNull();
    expect(message.usage).toMatchObject({
      input_tokens: PROMPT_TOKENS,
      output_tokens: REPLY_TOKENS,
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
    });
    // the SDK reads the request id from the `request-id` header
    expect(message._request_id).toMatch(/^req_/);
    expect(lastEntry()).toMatchObject({
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      stream: false,
      status: 200,
      aborted: false,
      requestId: message._request_id,
      usage: { input_tokens: PROMPT_TOKENS, output_tokens: REPLY_TOKENS, cached_input_tokens: 0 },
    });
  });

  it("is deterministic: the same request gives the same text and usage, another message another text", async () => {
    const a = await claude.messages.create(params);
    const b = await claude.messages.create(params);
    expect(b.content).toEqual(a.content);
    expect(b.usage).toEqual(a.usage);
    expect(b.id).not.toBe(a.id);
    const other = await claude.messages.create({ ...params, messages: [{ role: "user", content: "Bye" }] });
    expect(other.content).toEqual([{ type: "text", text: "Echo: Bye" }]);
    expect(other.usage.input_tokens).toBe(1 + 3 + 1 + 1);
  });

  it("caps the reply at max_tokens and says so in stop_reason", async () => {
    const message = await claude.messages.create({ ...params, max_tokens: 3 });
    expect(message.content).toEqual([{ type: "text", text: "Echo: Hello" }]);
    expect(message.stop_reason).toBe("max_tokens");
    expect(message.usage.output_tokens).toBe(3);
  });

  it("streams the real event sequence with the same text and usage as the non-streaming answer", async () => {
    const plain = await claude.messages.create(params);
    const stream = await claude.messages.create({ ...params, stream: true });
    const types: string[] = [];
    let text = "";
    let finalOutput = -1;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
      if (event.type === "message_delta") {
        expect(event.delta.stop_reason).toBe("end_turn");
        finalOutput = event.usage.output_tokens;
      }
      if (event.type === "message_start") expect(event.message.usage.input_tokens).toBe(PROMPT_TOKENS);
    }
    // the SDK drops `ping`; the rest arrives in the API's order
    expect(types[0]).toBe("message_start");
    expect(types[1]).toBe("content_block_start");
    expect(types.slice(2, -3).every((t) => t === "content_block_delta")).toBe(true);
    expect(types.slice(2, -3).length).toBeGreaterThan(1);
    expect(types.slice(-3)).toEqual(["content_block_stop", "message_delta", "message_stop"]);
    expect(text).toBe(REPLY);
    expect(finalOutput).toBe(plain.usage.output_tokens);

    const helper = claude.messages.stream(params);
    const final = await helper.finalMessage();
    expect(final.content).toEqual(plain.content);
    expect(final.stop_reason).toBe(plain.stop_reason);
    expect(final.usage).toMatchObject({
      input_tokens: plain.usage.input_tokens,
      output_tokens: plain.usage.output_tokens,
      cache_read_input_tokens: plain.usage.cache_read_input_tokens,
    });
    expect(lastEntry()).toMatchObject({ stream: true, status: 200, usage: fake.requestLog.at(-3)?.usage });
  });

  it("streams a max_tokens stop the same way", async () => {
    const final = await claude.messages.stream({ ...params, max_tokens: 2 }).finalMessage();
    expect(final.content).toEqual([{ type: "text", text: "Echo:" }]);
    expect(final.stop_reason).toBe("max_tokens");
    expect(final.usage.output_tokens).toBe(2);
  });

  it("reports the prompt prefix as cache reads with promptCaching, streamed or not", async () => {
    fake.setBehavior({ promptCaching: true });
    const message = await claude.messages.create(params);
    const prefix = PROMPT_TOKENS - (1 + 4);
    expect(message.usage.cache_read_input_tokens).toBe(prefix);
    // Anthropic's input_tokens excludes cache reads
    expect(message.usage.input_tokens).toBe(PROMPT_TOKENS - prefix);
    const streamed = await claude.messages.stream(params).finalMessage();
    expect(streamed.usage.cache_read_input_tokens).toBe(prefix);
    expect(streamed.usage.input_tokens).toBe(PROMPT_TOKENS - prefix);
    expect(lastEntry().usage).toEqual({
      input_tokens: PROMPT_TOKENS - prefix,
      cached_input_tokens: prefix,
      output_tokens: REPLY_TOKENS,
    });
  });

  it("replies with a seeded lorem of N words that depends on model and message", async () => {
    fake.setBehavior({ replyWords: 40 });
    const text = async (model: string, content: string) => {
      const m = await claude.messages.create({
        model,
        max_tokens: 1000,
        messages: [{ role: "user", content }],
      });
      const block = m.content[0];
      return block?.type === "text" ? block.text : "";
    };
    const a = await text("m1", "seed");
    expect(a.split(" ")).toHaveLength(40);
    expect(a).toMatch(/^[A-Z][a-z ]+\.$/);
    expect(await text("m1", "seed")).toBe(a);
    expect(await text("m2", "seed")).not.toBe(a);
    expect(await text("m1", "other seed")).not.toBe(a);
  });

  it("maps 429 to RateLimitError with retry-after and the request id", async () => {
    fake.setBehavior({ status: 429, retryAfterSeconds: 7 });
    const error = await caught(claude.messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    const e = error as InstanceType<typeof Anthropic.RateLimitError>;
    expect(e.status).toBe(429);
    expect(e.type).toBe("rate_limit_error");
    expect(e.headers.get("retry-after")).toBe("7");
    expect(e.requestID).toBe(lastEntry().requestId);
    expect(e.error).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(lastEntry()).toMatchObject({ status: 429 });
    expect(lastEntry().usage).toBeUndefined();
  });

  it("maps 500 to InternalServerError and 529 to OverloadedError", async () => {
    fake.setBehavior({ status: 500 });
    const e500 = await caught(claude.messages.create(params));
    expect(e500).toBeInstanceOf(Anthropic.InternalServerError);
    expect((e500 as InstanceType<typeof Anthropic.APIError>).type).toBe("api_error");
    fake.setBehavior({ status: 529 });
    const e529 = await caught(claude.messages.create(params));
    expect(e529).toBeInstanceOf(Anthropic.OverloadedError);
    expect((e529 as InstanceType<typeof Anthropic.APIError>).type).toBe("overloaded_error");
  });

  it("maps a refused key to AuthenticationError", async () => {
    const strict = await startFakeProvider({ apiKey: "the-right-key" });
    try {
      const wrong = new Anthropic({ apiKey: "a-wrong-key", baseURL: strict.anthropicBaseUrl, maxRetries: 0 });
      const error = await caught(wrong.messages.create(params));
      expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
      expect((error as InstanceType<typeof Anthropic.APIError>).type).toBe("authentication_error");
      const right = new Anthropic({
        apiKey: "the-right-key",
        baseURL: strict.anthropicBaseUrl,
        maxRetries: 0,
      });
      await expect(right.messages.create(params)).resolves.toMatchObject({ type: "message" });
      expect(strict.requests).toBe(2);
    } finally {
      await strict.close();
    }
  });

  it("times out on the timeout switch, and the fake sees the abort", async () => {
    fake.setBehavior({ timeout: true });
    const started = Date.now();
    const error = await caught(claude.messages.create(params, { timeout: 200 }));
    expect(error).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await fake.settled();
    expect(lastEntry()).toMatchObject({ status: 0, aborted: true, dropped: false });
  });

  it("surfaces a garbage body as an error, streamed or not", async () => {
    fake.setBehavior({ malformed: "garbage" });
    expect(await caught(claude.messages.create(params))).toBeInstanceOf(SyntaxError);
    const stream = await claude.messages.create({ ...params, stream: true });
    const error = await caught(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(error).toBeInstanceOf(SyntaxError);
  });

  it("passes a schema-breaking body through untyped: the SDK does not validate, adapters must", async () => {
    fake.setBehavior({ malformed: "schema" });
    const message = await claude.messages.create(params);
    expect(Array.isArray(message.content)).toBe(false);
    expect(message.usage).toBeUndefined();
  });

  it("drops the connection mid-stream: a prefix of the text arrives, then an error", async () => {
    // 3 head events (message_start, content_block_start, ping), then 2 deltas
    fake.setBehavior({ dropMidStream: 5 });
    const stream = await claude.messages.create({ ...params, stream: true });
    let text = "";
    const error = await caught(
      (async () => {
        for await (const event of stream) {
          if (event.type === "content_block_delta" && event.delta.type === "text_delta")
            text += event.delta.text;
        }
      })(),
    );
    expect(error).toBeInstanceOf(Error);
    expect(text).toBe("Echo: Hello,");
    await fake.settled();
    expect(lastEntry()).toMatchObject({ dropped: true, aborted: false });
    expect(lastEntry().usage).toBeUndefined();
  });

  it("drops a non-streaming answer half-way as a connection error", async () => {
    fake.setBehavior({ dropMidStream: 0 });
    expect(await caught(claude.messages.create(params))).toBeInstanceOf(Anthropic.APIConnectionError);
  });

  it("records a client abort mid-stream, with no usage reported", async () => {
    fake.setBehavior({ replyWords: 50, streamChunkDelayMs: 20 });
    const controller = new AbortController();
    const stream = await claude.messages.create({ ...params, stream: true }, { signal: controller.signal });
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === "content_block_delta" && ++deltas === 2) controller.abort();
    }
    await fake.settled();
    expect(deltas).toBe(2);
    expect(lastEntry()).toMatchObject({ stream: true, status: 200, aborted: true, dropped: false });
    expect(lastEntry().usage).toBeUndefined();
  });
});

describe("OpenAI Chat Completions through the openai SDK", () => {
  const messages = [{ role: "system" as const, content: SYSTEM }, ...TURNS];
  const params = { model: "gpt-4.1-mini", messages };

  it("answers a typed chat.completion with real usage", async () => {
    const completion = await gpt.chat.completions.create(params);
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(completion.object).toBe("chat.completion");
    expect(completion.model).toBe("gpt-4.1-mini");
    expect(Math.abs(completion.created - Date.now() / 1000)).toBeLessThan(60);
    const [choice] = completion.choices;
    expect(completion.choices).toHaveLength(1);
    expect(choice?.index).toBe(0);
    expect(choice?.message).toMatchObject({ role: "assistant", content: REPLY, refusal: null });
    expect(choice?.finish_reason).toBe("stop");
    expect(choice?.logprobs).toBeNull();
    expect(completion.usage).toMatchObject({
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: REPLY_TOKENS,
      total_tokens: PROMPT_TOKENS + REPLY_TOKENS,
      prompt_tokens_details: { cached_tokens: 0 },
    });
    expect(completion._request_id).toBe(lastEntry().requestId);
    expect(lastEntry()).toMatchObject({
      provider: "openai",
      model: "gpt-4.1-mini",
      stream: false,
      status: 200,
    });
  });

  it("caps the reply with max_completion_tokens (and legacy max_tokens): finish_reason length", async () => {
    const a = await gpt.chat.completions.create({ ...params, max_completion_tokens: 4 });
    expect(a.choices[0]?.message.content).toBe("Echo: Hello,");
    expect(a.choices[0]?.finish_reason).toBe("length");
    expect(a.usage?.completion_tokens).toBe(4);
    const b = await gpt.chat.completions.create({ ...params, max_tokens: 4 });
    expect(b.choices[0]?.message.content).toBe("Echo: Hello,");
  });

  it("streams chunks ending with a usage chunk and [DONE]: same text and usage as non-streaming", async () => {
    const plain = await gpt.chat.completions.create(params);
    const stream = await gpt.chat.completions.create({
      ...params,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      expect(chunk.object).toBe("chat.completion.chunk");
      const choice = chunk.choices[0];
      if (choice) {
        text += choice.delta.content ?? "";
        finishes.push(choice.finish_reason);
        expect(chunk.usage).toBeNull();
      } else {
        usage = chunk.usage;
      }
    }
    expect(text).toBe(plain.choices[0]?.message.content);
    expect(finishes.at(-1)).toBe("stop");
    expect(finishes.slice(0, -1).every((f) => f === null)).toBe(true);
    expect(chunks).toBeGreaterThan(3);
    expect(usage).toEqual(plain.usage);
    expect(lastEntry()).toMatchObject({ stream: true, status: 200, usage: fake.requestLog.at(-2)?.usage });
  });

  it("streams without a usage chunk when include_usage is not asked for", async () => {
    const stream = await gpt.chat.completions.create({ ...params, stream: true });
    const usages: unknown[] = [];
    for await (const chunk of stream) usages.push(chunk.usage);
    expect(usages.length).toBeGreaterThan(0);
    expect(usages.every((u) => u === undefined)).toBe(true);
  });

  it("gives the SDK's stream helper the same final completion", async () => {
    const plain = await gpt.chat.completions.create(params);
    const final = await gpt.chat.completions
      .stream({ ...params, stream_options: { include_usage: true } })
      .finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(plain.choices[0]?.message.content);
    expect(final.usage).toEqual(plain.usage);
  });

  it("reports cached prompt tokens inside prompt_tokens with promptCaching", async () => {
    const cached = PROMPT_TOKENS - (1 + 4);
    const completion = await gpt.chat.completions.create(params, {
      headers: { "x-fake-behavior": JSON.stringify({ promptCaching: true }) },
    });
    expect(completion.usage?.prompt_tokens).toBe(PROMPT_TOKENS);
    expect(completion.usage?.prompt_tokens_details?.cached_tokens).toBe(cached);
    expect(lastEntry().usage).toEqual({
      input_tokens: PROMPT_TOKENS - cached,
      cached_input_tokens: cached,
      output_tokens: REPLY_TOKENS,
    });
  });

  it("maps 429 to RateLimitError with retry-after and the OpenAI error object", async () => {
    fake.setBehavior({ status: 429 });
    const error = await caught(gpt.chat.completions.create(params));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const e = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.status).toBe(429);
    expect(e.headers.get("retry-after")).toBe("1");
    expect(e.code).toBe("rate_limit_exceeded");
    expect(e.requestID).toBe(lastEntry().requestId);
  });

  it("maps 500 and 503 to InternalServerError", async () => {
    for (const status of [500, 503] as const) {
      fake.setBehavior({ status });
      const error = await caught(gpt.chat.completions.create(params));
      expect(error).toBeInstanceOf(OpenAI.InternalServerError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(status);
      expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe("server_error");
    }
  });

  it("maps a refused key to AuthenticationError with code invalid_api_key", async () => {
    const strict = await startFakeProvider({ apiKey: "the-right-key" });
    try {
      const wrong = new OpenAI({ apiKey: "a-wrong-key", baseURL: strict.openaiBaseUrl, maxRetries: 0 });
      const error = await caught(wrong.chat.completions.create(params));
      expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe("invalid_api_key");
    } finally {
      await strict.close();
    }
  });

  it("times out on the timeout switch with APIConnectionTimeoutError", async () => {
    fake.setBehavior({ timeout: true });
    const error = await caught(gpt.chat.completions.create(params, { timeout: 200 }));
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    await fake.settled();
    expect(lastEntry()).toMatchObject({ aborted: true, status: 0 });
  });

  it("surfaces a garbage body as an error, streamed or not", async () => {
    fake.setBehavior({ malformed: "garbage" });
    expect(await caught(gpt.chat.completions.create(params))).toBeInstanceOf(SyntaxError);
    const stream = await gpt.chat.completions.create({ ...params, stream: true });
    const error = await caught(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(error).toBeInstanceOf(SyntaxError);
  });

  it("drops the connection mid-stream after N chunks", async () => {
    fake.setBehavior({ dropMidStream: 2 });
    const stream = await gpt.chat.completions.create({ ...params, stream: true });
    let text = "";
    const error = await caught(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
      })(),
    );
    expect(error).toBeInstanceOf(Error);
    expect(text).toBe("Echo:");
  });

  it("lists models through GET /v1/models", async () => {
    const ids: string[] = [];
    for await (const model of gpt.models.list()) ids.push(model.id);
    expect(ids).toEqual(["candor-fake-1"]);
    // not a model request
    expect(fake.requests).toBe(0);
  });
});

describe("switches and counters", () => {
  const anthropicParams = {
    model: "claude-haiku-4-5",
    max_tokens: 64,
    messages: [{ role: "user" as const, content: "hi" }],
  };

  it("counts every model request, failed ones included, and reset clears the count", async () => {
    await claude.messages.create(anthropicParams);
    await gpt.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    fake.setBehavior({ status: 500 });
    await caught(claude.messages.create(anthropicParams));
    expect(fake.requests).toBe(3);
    expect(fake.requestLog.map((e) => [e.provider, e.status])).toEqual([
      ["anthropic", 200],
      ["openai", 200],
      ["anthropic", 500],
    ]);
    fake.reset();
    expect(fake.requests).toBe(0);
    expect(fake.requestLog).toHaveLength(0);
    expect(fake.behavior.status).toBeNull();
  });

  it("applies x-fake-behavior to one request only, even concurrently", async () => {
    const [limited, normal] = await Promise.allSettled([
      claude.messages.create(anthropicParams, { headers: { "x-fake-behavior": '{"status":429}' } }),
      claude.messages.create(anthropicParams),
    ]);
    expect(limited.status).toBe("rejected");
    expect(limited.status === "rejected" && limited.reason).toBeInstanceOf(Anthropic.RateLimitError);
    expect(normal.status).toBe("fulfilled");
    expect(fake.behavior.status).toBeNull();
  });

  it("refuses a broken x-fake-behavior with a 400 in the provider's shape", async () => {
    const error = await caught(
      claude.messages.create(anthropicParams, { headers: { "x-fake-behavior": '{"status":418}' } }),
    );
    expect(error).toBeInstanceOf(Anthropic.BadRequestError);
    expect((error as InstanceType<typeof Anthropic.APIError>).message).toContain("status");
  });

  it("fails a deterministic share of requests with failRate", async () => {
    const run = async () => {
      const outcomes: string[] = [];
      for (let i = 0; i < 40; i++) {
        const r = await claude.messages.create(anthropicParams).then(
          () => "ok",
          (e: unknown) => String((e as { status?: number }).status),
        );
        outcomes.push(r);
      }
      return outcomes;
    };
    fake.setBehavior({ failRate: 0.5, failSeed: 42, failStatus: 503 });
    const first = await run();
    const failed = first.filter((o) => o !== "ok");
    expect(failed.length).toBeGreaterThan(5);
    expect(failed.length).toBeLessThan(35);
    expect(new Set(failed)).toEqual(new Set(["503"]));
    fake.reset();
    fake.setBehavior({ failRate: 0.5, failSeed: 42, failStatus: 503 });
    expect(await run()).toEqual(first);
    fake.setBehavior({ failSeed: 7 });
    expect(await run()).not.toEqual(first);
  });

  it("waits latencyMs before answering", async () => {
    fake.setBehavior({ latencyMs: 150 });
    const started = Date.now();
    await claude.messages.create(anthropicParams);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("spaces stream events by streamChunkDelayMs", async () => {
    fake.setBehavior({ streamChunkDelayMs: 30 });
    const started = Date.now();
    const stream = await gpt.chat.completions.create({
      model: "gpt-4o",
      messages: [{ role: "user", content: "one two three" }],
      stream: true,
    });
    let chunks = 0;
    for await (const _ of stream) chunks++;
    // role chunk, 4 words, finish chunk; [DONE] is one more pause
    expect(chunks).toBe(6);
    expect(Date.now() - started).toBeGreaterThanOrEqual(6 * 30 - 10);
  });

  it("resets to the switches it was started with", async () => {
    const own = await startFakeProvider({ behavior: { replyWords: 3 } });
    try {
      own.setBehavior({ replyWords: 5, status: 500 });
      own.reset();
      expect(own.behavior).toMatchObject({ replyWords: 3, status: null });
    } finally {
      await own.close();
    }
  });

  it("refuses setBehavior values outside the documented ranges", () => {
    expect(() => fake.setBehavior({ failRate: 2 })).toThrow(/failRate/);
    expect(() => fake.setBehavior({ status: 404 as never })).toThrow(/status/);
    expect(fake.behavior.failRate).toBe(0);
  });
});

describe("raw wire details the SDKs hide", () => {
  const post = (path: string, headers: Record<string, string>, body: unknown) =>
    fetch(`${fake.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  const message = { model: "m", max_tokens: 16, messages: [{ role: "user", content: "hi" }] };

  it("Anthropic: accepts x-api-key, refuses no key with 401 authentication_error and a request-id", async () => {
    const ok = await post("/v1/messages", { "x-api-key": KEY, "anthropic-version": "2023-06-01" }, message);
    expect(ok.status).toBe(200);
    const res = await post("/v1/messages", { "anthropic-version": "2023-06-01" }, message);
    expect(res.status).toBe(401);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    expect(await res.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
  });

  it("Anthropic: requires anthropic-version and max_tokens like the real API", async () => {
    const noVersion = await post("/v1/messages", { "x-api-key": KEY }, message);
    expect(noVersion.status).toBe(400);
    const { max_tokens: _, ...noMax } = message;
    const res = await post("/v1/messages", { "x-api-key": KEY, "anthropic-version": "2023-06-01" }, noMax);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error" } });
  });

  it("Anthropic: the SSE stream has the ping event and message_delta with cumulative usage", async () => {
    const res = await post(
      "/v1/messages",
      { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
      { ...message, stream: true },
    );
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const body = await res.text();
    const events = [...body.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
    expect(events).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(body).toContain(
      '"usage":{"input_tokens":2,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":3}',
    );
  });

  it("OpenAI: refuses no key with 401 in the OpenAI error envelope", async () => {
    const res = await post(
      "/v1/chat/completions",
      {},
      { model: "m", messages: [{ role: "user", content: "x" }] },
    );
    expect(res.status).toBe(401);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const body = (await res.json()) as { error: Record<string, unknown> };
    expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  });

  it("OpenAI: the stream ends with data: [DONE]", async () => {
    const res = await post(
      "/v1/chat/completions",
      { authorization: `Bearer ${KEY}` },
      { model: "m", messages: [{ role: "user", content: "x" }], stream: true },
    );
    const body = await res.text();
    expect(body.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(
      body
        .split("\n\n")
        .filter(Boolean)
        .every((frame) => frame.startsWith("data: ")),
    ).toBe(true);
  });

  it("answers the Anthropic models shape when anthropic-version is sent", async () => {
    const res = await fetch(`${fake.url}/v1/models`, {
      headers: { "x-api-key": KEY, "anthropic-version": "2023-06-01" },
    });
    expect(await res.json()).toMatchObject({
      data: [{ type: "model", id: "candor-fake-1" }],
      has_more: false,
    });
  });

  it("changes switches through the control endpoint of a standalone process", async () => {
    const put = await fetch(`${fake.url}/_fake/behavior`, { method: "PUT", body: '{"status":503}' });
    expect(put.status).toBe(200);
    expect(fake.behavior.status).toBe(503);
    const bad = await fetch(`${fake.url}/_fake/behavior`, { method: "PUT", body: '{"nope":1}' });
    expect(bad.status).toBe(400);
    await fetch(`${fake.url}/_fake/reset`, { method: "POST" });
    expect(fake.behavior.status).toBeNull();
  });
});
