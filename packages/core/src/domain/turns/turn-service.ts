import { CandorError } from "../../errors";
import type { Log } from "../ports/logger.port";
import type { Metrics } from "../ports/metrics.port";
import {
  type ChatMessage,
  type ModelResponse,
  ProviderError,
  type ProviderResolver,
} from "../ports/model-provider.port";
import type { TokenCounter } from "../ports/token-counter.port";
import type { BeginTurnResult, PricingCandidate, TurnRecord, TurnStore } from "../ports/turn-store.port";
import { withRetries } from "./retry";

export interface TurnSettings {
  leaseSeconds: number;
  /** Whole-turn budget for provider calls, retries and failovers included. */
  deadlineMs: number;
  attemptTimeoutMs: number;
  retryAttempts: number;
  retryBaseMs: number;
  retryCapMs: number;
}

export interface TurnServiceDeps {
  store: TurnStore;
  providers: ProviderResolver;
  tokens: TokenCounter;
  metrics: Metrics;
  log: Log;
  settings: TurnSettings;
  /** Invalidate what caches the conversation (the conversation cache). */
  conversationChanged(tenantId: string, conversationId: string): Promise<void>;
}

interface TurnBase {
  tenantId: string;
  model: string | null;
  maxOutputTokens: number | null;
  temperature?: number | undefined;
  idempotencyKey: string | null;
  requestHash: string;
  /** Streams the reply: each text delta as it arrives (the provider's streaming API is used). */
  onDelta?: (text: string) => void | Promise<void>;
  /** Aborts the provider call (a streaming client that went away). */
  signal?: AbortSignal;
  /** Called once the turn is admitted (policy, price, budget), before the provider is called. */
  onBegin?: (turn: { turnId: string }) => void | Promise<void>;
}

export type TurnInput =
  | (TurnBase & { kind: "conversation"; conversationId: string; path: string; content: string })
  | (TurnBase & { kind: "completion"; system: string | undefined; messages: ChatMessage[] });

/** Tokens a chat message costs beyond its text (role and separators), for the estimate only. */
const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * One chat turn, the hot path of ARCHITECTURE.md: begin_turn (policy, live price, budget,
 * idempotency, prompt) → provider (one retry layer, failover only to the policy's models) →
 * complete_turn (ledger) — or fail_turn, which charges only what the provider reported.
 */
export class TurnService {
  constructor(private readonly d: TurnServiceDeps) {}

  async estimateTokens(texts: string[]): Promise<number> {
    const counts = await Promise.all(texts.map((t) => this.d.tokens.count(t)));
    return counts.reduce((n, c) => n + c + MESSAGE_OVERHEAD_TOKENS, 0);
  }

  async run(input: TurnInput): Promise<{ record: TurnRecord; replayed: boolean }> {
    // the budget needs a bound, not an estimate: a token is at least one byte (begin_turn adds the
    // conversation's own history and contexts to this)
    const inputBound =
      input.kind === "conversation"
        ? 0
        : [input.system ?? "", ...input.messages.map((m) => m.content)].reduce(
            (n, t) => n + Buffer.byteLength(t) + 8,
            0,
          );
    const begun = await this.begin(input, inputBound);
    if (begun.status === "replay") return { record: begun.response, replayed: true };
    await input.onBegin?.({ turnId: begun.turn_id });

    const system =
      input.kind === "conversation"
        ? begun.contexts.map((c) => `# ${c.name}\n${c.content}`).join("\n\n") || undefined
        : input.system;
    const messages = input.kind === "conversation" ? begun.prompt : input.messages;
    const deadline = Date.now() + this.d.settings.deadlineMs;

    let lastError: unknown;
    let reported: { candidate: PricingCandidate; usage: ModelResponse["usage"] } | undefined;
    for (const candidate of begun.candidates) {
      let response: ModelResponse;
      const started = performance.now();
      try {
        response = await this.callProvider(
          input,
          candidate,
          system,
          messages,
          begun.max_output_tokens,
          deadline,
        );
        this.d.metrics.timing("provider_latency", performance.now() - started, {
          provider: candidate.provider,
        });
      } catch (error) {
        this.d.metrics.count("provider_errors", 1, { provider: candidate.provider });
        lastError = error;
        if (error instanceof ProviderError && error.options.usage)
          reported = { candidate, usage: error.options.usage };
        this.d.log.warn("provider call failed", {
          provider: candidate.provider,
          model: candidate.model,
          failure: error instanceof ProviderError ? error.failure : "error",
          status: error instanceof ProviderError ? error.options.status : undefined,
        });
        if (input.signal?.aborted || Date.now() >= deadline) break;
        continue; // fail over to the next model the policy lists, if any
      }
      const record = await this.d.store.complete({
        tenantId: input.tenantId,
        turnId: begun.turn_id,
        attempt: begun.attempt,
        pricingId: candidate.id,
        content: response.content,
        inputTokens: response.usage.inputTokens,
        outputTokens: response.usage.outputTokens,
        cachedInputTokens: response.usage.cachedInputTokens,
        finishReason: response.finishReason,
      });
      if (input.kind === "conversation")
        await this.d.conversationChanged(input.tenantId, input.conversationId);
      return { record, replayed: false };
    }

    const failure = lastError instanceof ProviderError ? lastError.failure : "error";
    await this.d.store.fail({
      tenantId: input.tenantId,
      turnId: begun.turn_id,
      attempt: begun.attempt,
      error: { code: lastError instanceof CandorError ? lastError.code : "provider_error", failure },
      ...(reported
        ? {
            charge: {
              pricingId: reported.candidate.id,
              inputTokens: reported.usage.inputTokens,
              outputTokens: reported.usage.outputTokens,
              cachedInputTokens: reported.usage.cachedInputTokens,
            },
          }
        : {}),
    });
    if (input.kind === "conversation") await this.d.conversationChanged(input.tenantId, input.conversationId);
    throw toTurnError(lastError);
  }

  private async begin(input: TurnInput, inputTokenBound: number): Promise<BeginTurnResult> {
    try {
      return await this.d.store.begin({
        tenantId: input.tenantId,
        kind: input.kind,
        requestHash: input.requestHash,
        model: input.model,
        idempotencyKey: input.idempotencyKey,
        maxOutputTokens: input.maxOutputTokens,
        estimatedInputTokens: inputTokenBound,
        leaseSeconds: this.d.settings.leaseSeconds,
        ...(input.kind === "conversation"
          ? { conversationId: input.conversationId, path: input.path, content: input.content }
          : {}),
      });
    } catch (error) {
      if (error instanceof CandorError) {
        if (error.code === "pricing_unavailable") {
          // fail fast, before any provider call: there is no static price to fall back on
          this.d.metrics.count("pricing_lookup_errors", 1);
          throw new CandorError("pricing_unavailable", error.message, { retryAfterSeconds: 60 });
        }
        if (error.code === "conflict" && error.details?.reason === "in_progress") {
          throw new CandorError("turn_in_progress", error.message, {
            param: "Idempotency-Key",
            retryAfterSeconds: Number(error.details.retry_after) || 1,
          });
        }
      }
      throw error;
    }
  }

  private async callProvider(
    input: TurnInput,
    candidate: PricingCandidate,
    system: string | undefined,
    messages: ChatMessage[],
    maxOutputTokens: number,
    deadline: number,
  ): Promise<ModelResponse> {
    const provider = this.d.providers.resolve(candidate.provider, candidate.base_url);
    const fitted = await this.fitToWindow(system, messages, candidate.context_window_tokens, maxOutputTokens);
    return withRetries(
      async () => {
        const remaining = deadline - Date.now();
        if (remaining <= 0)
          throw new ProviderError("timeout", `${candidate.provider}: turn deadline reached`);
        const timeout = AbortSignal.timeout(Math.min(this.d.settings.attemptTimeoutMs, remaining));
        const signal = input.signal ? AbortSignal.any([timeout, input.signal]) : timeout;
        const request = {
          model: candidate.model,
          messages: fitted,
          maxOutputTokens,
          signal,
          ...(system ? { system } : {}),
          ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
        };
        if (!input.onDelta) return provider.complete(request);
        let done: ModelResponse | undefined;
        for await (const ev of provider.stream(request)) {
          if (ev.type === "delta") await input.onDelta(ev.text);
          else done = ev.response;
        }
        if (!done) throw new ProviderError("bad_response", `${candidate.provider}: stream ended early`);
        return done;
      },
      {
        // a stream that already sent text to the client cannot be retried without repeating it
        attempts: input.onDelta ? 1 : this.d.settings.retryAttempts,
        baseMs: this.d.settings.retryBaseMs,
        capMs: this.d.settings.retryCapMs,
        deadline,
      },
    );
  }

  /** Drops the oldest messages until the prompt fits the model's context window (estimate). */
  private async fitToWindow(
    system: string | undefined,
    messages: ChatMessage[],
    window: number | null,
    maxOutputTokens: number,
  ): Promise<ChatMessage[]> {
    let kept = messages;
    if (window) {
      let budget = window - maxOutputTokens - (system ? await this.d.tokens.count(system) : 0);
      const out: ChatMessage[] = [];
      for (let i = messages.length - 1; i >= 0; i--) {
        const m = messages[i] as ChatMessage;
        const cost = (await this.d.tokens.count(m.content)) + MESSAGE_OVERHEAD_TOKENS;
        if (out.length > 0 && cost > budget) break;
        budget -= cost;
        out.unshift(m);
      }
      kept = out;
    }
    // providers want the conversation to open with the user
    const first = kept.findIndex((m) => m.role === "user");
    return first > 0 ? kept.slice(first) : kept;
  }
}

function toTurnError(error: unknown): CandorError {
  if (error instanceof CandorError) return error;
  if (error instanceof ProviderError) {
    if (error.failure === "timeout") {
      return new CandorError("provider_timeout", "The model provider did not answer in time", {
        cause: error,
      });
    }
    return new CandorError("provider_error", `The model provider failed (${error.failure})`, {
      cause: error,
      ...(error.options.retryAfterSeconds ? { retryAfterSeconds: error.options.retryAfterSeconds } : {}),
    });
  }
  return new CandorError("provider_error", "The model provider failed", { cause: error });
}
