import {
  type BeginTurnInput,
  type BeginTurnResult,
  CandorError,
  type CompleteTurnInput,
  type FailTurnInput,
  type Metrics,
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  ProviderError,
  type TurnRecord,
  TurnService,
  type TurnStore,
  withRetries,
} from "@candor/core";
import { describe, expect, it } from "vitest";

const usage = { inputTokens: 10, outputTokens: 5, cachedInputTokens: 0 };

/** A hand-written TurnStore: records what the service asked for. */
class RecordingStore implements TurnStore {
  begun: BeginTurnInput[] = [];
  completed: CompleteTurnInput[] = [];
  failed: FailTurnInput[] = [];
  constructor(private readonly candidates: string[]) {}
  async begin(i: BeginTurnInput): Promise<BeginTurnResult> {
    this.begun.push(i);
    return {
      status: "started",
      turn_id: "t1",
      attempt: 1,
      user_message: null,
      max_output_tokens: 100,
      prompt: [],
      contexts: [],
      candidates: this.candidates.map((m) => ({
        id: `price-${m}`,
        provider: m.startsWith("claude") ? "anthropic" : "openai",
        model: m,
        input_usd_per_mtok: "1",
        output_usd_per_mtok: "2",
        cached_input_usd_per_mtok: null,
        context_window_tokens: null,
        base_url: null,
      })),
    };
  }
  async complete(i: CompleteTurnInput): Promise<TurnRecord> {
    this.completed.push(i);
    return {
      turn_id: i.turnId,
      user_message: null,
      assistant_message: { content: i.content },
      usage: { input_tokens: i.inputTokens, output_tokens: i.outputTokens, cached_input_tokens: 0 },
      cost: { usd: "0", pricing_id: i.pricingId },
      model: "m",
      provider: "p",
      finish_reason: "stop",
      created_at: new Date(0).toISOString(),
    };
  }
  async fail(i: FailTurnInput): Promise<void> {
    this.failed.push(i);
  }
}

/** A hand-written provider whose answers are scripted per call. */
class ScriptedProvider implements ModelProvider {
  calls: ModelRequest[] = [];
  constructor(
    readonly name: string,
    private readonly script: (n: number) => ModelResponse | ProviderError,
  ) {}
  async complete(r: ModelRequest): Promise<ModelResponse> {
    this.calls.push(r);
    const out = this.script(this.calls.length);
    if (out instanceof ProviderError) throw out;
    return out;
  }
  async *stream(r: ModelRequest) {
    const res = await this.complete(r);
    yield { type: "delta" as const, text: res.content };
    yield { type: "done" as const, response: res };
  }
}

const metrics: Metrics = { count() {}, gauge() {}, timing() {}, flush() {}, totals: () => ({}) };
const log = { debug() {}, info() {}, warn() {}, error() {} };

function service(store: TurnStore, providers: Record<string, ModelProvider>) {
  return new TurnService({
    store,
    providers: { resolve: (p) => providers[p] as ModelProvider },
    tokens: { count: async (t) => t.length },
    metrics,
    log,
    settings: {
      leaseSeconds: 60,
      deadlineMs: 5_000,
      attemptTimeoutMs: 1_000,
      retryAttempts: 3,
      retryBaseMs: 1,
      retryCapMs: 2,
    },
    conversationChanged: async () => {},
  });
}

const completion = {
  kind: "completion" as const,
  tenantId: "t",
  model: null,
  maxOutputTokens: null,
  idempotencyKey: null,
  requestHash: "h",
  system: undefined,
  messages: [{ role: "user" as const, content: "hi" }],
};

describe("TurnService", () => {
  it("retries a 5xx at the same provider, then completes with that model's price", async () => {
    const store = new RecordingStore(["gpt-a"]);
    const openai = new ScriptedProvider("openai", (n) =>
      n === 1
        ? new ProviderError("server", "boom", { status: 500 })
        : { content: "ok", usage, finishReason: "stop" },
    );
    await service(store, { openai }).run(completion);
    expect(openai.calls).toHaveLength(2);
    expect(store.completed[0]?.pricingId).toBe("price-gpt-a");
    expect(store.failed).toEqual([]);
  });

  it("fails over only to the candidates begin_turn returned, in order", async () => {
    const store = new RecordingStore(["gpt-a", "claude-b"]);
    const openai = new ScriptedProvider("openai", () => new ProviderError("auth", "no", { status: 401 }));
    const anthropic = new ScriptedProvider("anthropic", () => ({
      content: "from b",
      usage,
      finishReason: "stop",
    }));
    const out = await service(store, { openai, anthropic }).run(completion);
    expect(openai.calls).toHaveLength(1); // auth failures are not retried
    expect(anthropic.calls[0]?.model).toBe("claude-b");
    expect(out.record.assistant_message.content).toBe("from b");
    expect(store.completed[0]?.pricingId).toBe("price-claude-b");
  });

  it("charges nothing for a failure without usage, and exactly the reported usage otherwise", async () => {
    const quiet = new RecordingStore(["gpt-a"]);
    const down = new ScriptedProvider("openai", () => new ProviderError("bad_request", "x", { status: 400 }));
    await expect(service(quiet, { openai: down }).run(completion)).rejects.toMatchObject({
      code: "provider_error",
    });
    expect(quiet.failed[0]?.charge).toBeUndefined();

    const billed = new RecordingStore(["gpt-a"]);
    const partial = new ScriptedProvider(
      "openai",
      () =>
        new ProviderError("bad_response", "cut", {
          usage: { inputTokens: 7, outputTokens: 3, cachedInputTokens: 0 },
        }),
    );
    await expect(service(billed, { openai: partial }).run(completion)).rejects.toBeInstanceOf(CandorError);
    expect(billed.failed[0]?.charge).toEqual({
      pricingId: "price-gpt-a",
      inputTokens: 7,
      outputTokens: 3,
      cachedInputTokens: 0,
    });
  });

  it("maps a provider timeout to 504 provider_timeout", async () => {
    const store = new RecordingStore(["gpt-a"]);
    const slow = new ScriptedProvider("openai", () => new ProviderError("timeout", "t"));
    await expect(service(store, { openai: slow }).run(completion)).rejects.toMatchObject({
      code: "provider_timeout",
    });
  });

  it("does not retry a streamed answer that already sent text", async () => {
    const store = new RecordingStore(["gpt-a"]);
    let n = 0;
    const flaky: ModelProvider = {
      name: "openai",
      complete: async () => ({ content: "", usage, finishReason: "stop" }),
      async *stream() {
        n++;
        yield { type: "delta" as const, text: "partial" };
        throw new ProviderError("connection", "dropped");
      },
    };
    const deltas: string[] = [];
    await expect(
      service(store, { openai: flaky }).run({ ...completion, onDelta: (t) => void deltas.push(t) }),
    ).rejects.toMatchObject({ code: "provider_error" });
    expect(n).toBe(1);
    expect(deltas).toEqual(["partial"]);
  });
});

describe("withRetries", () => {
  it("makes at most 3 attempts with capped, jittered backoff, only for retryable failures", async () => {
    const waits: number[] = [];
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new ProviderError("rate_limited", "429");
        },
        {
          attempts: 5,
          baseMs: 100,
          capMs: 150,
          deadline: Date.now() + 60_000,
          random: () => 1,
          sleep: async (ms) => void waits.push(ms),
        },
      ),
    ).rejects.toBeInstanceOf(ProviderError);
    expect(calls).toBe(3);
    expect(waits).toEqual([100, 150]);

    let badCalls = 0;
    await expect(
      withRetries(
        async () => {
          badCalls++;
          throw new ProviderError("bad_request", "400");
        },
        { attempts: 3, baseMs: 1, capMs: 1, deadline: Date.now() + 1_000 },
      ),
    ).rejects.toBeInstanceOf(ProviderError);
    expect(badCalls).toBe(1);
  });

  it("never sleeps past the deadline", async () => {
    let calls = 0;
    const started = Date.now();
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new ProviderError("rate_limited", "429", { retryAfterSeconds: 30 });
        },
        { attempts: 3, baseMs: 1, capMs: 1, deadline: Date.now() + 200 },
      ),
    ).rejects.toBeInstanceOf(ProviderError);
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(150);
  });
});
