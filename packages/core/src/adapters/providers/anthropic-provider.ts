import type Anthropic from "@anthropic-ai/sdk";
import {
  type ModelProvider,
  type ModelRequest,
  type ModelResponse,
  type ModelStreamEvent,
  ProviderError,
} from "../../domain/ports/model-provider.port";
import { providerSpan, withSpan } from "../../observability/tracing";
import { badResponse, nonNegativeInt, toProviderError } from "./error-mapping";

const finish = (stop: string | null | undefined) => (stop === "max_tokens" ? "length" : "stop");

/** Anthropic Messages API through the official SDK (built by the composition root, retries off). */
export class AnthropicProvider implements ModelProvider {
  readonly name = "anthropic";
  constructor(private readonly client: Anthropic) {}

  private params(r: ModelRequest) {
    return {
      model: r.model,
      max_tokens: r.maxOutputTokens,
      messages: r.messages,
      ...(r.system ? { system: r.system } : {}),
      ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    };
  }

  async complete(r: ModelRequest): Promise<ModelResponse> {
    let msg: Anthropic.Message;
    try {
      msg = await withSpan(`${this.name} messages.create`, providerSpan(this.name, r.model), () =>
        this.client.messages.create(this.params(r), r.signal ? { signal: r.signal } : {}),
      );
    } catch (error) {
      throw toProviderError(this.name, error);
    }
    const input = nonNegativeInt(msg?.usage?.input_tokens);
    const output = nonNegativeInt(msg?.usage?.output_tokens);
    if (!Array.isArray(msg?.content) || input === undefined || output === undefined) {
      throw badResponse(this.name, "content or usage missing");
    }
    const cached = nonNegativeInt(msg.usage.cache_read_input_tokens) ?? 0;
    const content = msg.content.map((b) => (b.type === "text" ? b.text : "")).join("");
    // Anthropic reports cache reads apart from input_tokens; Candor's input includes them
    return {
      content,
      usage: { inputTokens: input + cached, outputTokens: output, cachedInputTokens: cached },
      finishReason: finish(msg.stop_reason),
    };
  }

  async *stream(r: ModelRequest): AsyncIterable<ModelStreamEvent> {
    let text = "";
    let input: number | undefined;
    let cached = 0;
    let output: number | undefined;
    let stop: string | null | undefined;
    try {
      // the span covers the call up to the stream's first bytes (the dependency answering)
      const events = await withSpan(
        `${this.name} messages.create`,
        providerSpan(this.name, r.model, true),
        () =>
          this.client.messages.create(
            { ...this.params(r), stream: true },
            r.signal ? { signal: r.signal } : {},
          ),
      );
      for await (const ev of events) {
        if (ev.type === "message_start") {
          input = nonNegativeInt(ev.message.usage.input_tokens);
          cached = nonNegativeInt(ev.message.usage.cache_read_input_tokens) ?? 0;
          output = nonNegativeInt(ev.message.usage.output_tokens);
        } else if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") {
          text += ev.delta.text;
          yield { type: "delta", text: ev.delta.text };
        } else if (ev.type === "message_delta") {
          output = nonNegativeInt(ev.usage.output_tokens) ?? output;
          stop = ev.delta.stop_reason;
        }
      }
    } catch (error) {
      // cut short (client gone, connection dropped): what message_start and the last
      // message_delta reported is what the provider consumed, and what is billed
      const e = toProviderError(this.name, error);
      if (input === undefined) throw e;
      throw new ProviderError(e.failure, e.message, {
        ...e.options,
        usage: { inputTokens: input + cached, outputTokens: output ?? 0, cachedInputTokens: cached },
      });
    }
    if (input === undefined || output === undefined) throw badResponse(this.name, "stream without usage");
    yield {
      type: "done",
      response: {
        content: text,
        usage: { inputTokens: input + cached, outputTokens: output, cachedInputTokens: cached },
        finishReason: finish(stop),
      },
    };
  }
}
