import type OpenAI from "openai";
import type {
  ModelProvider,
  ModelRequest,
  ModelResponse,
  ModelStreamEvent,
} from "../../domain/ports/model-provider.port";
import { providerSpan, withSpan } from "../../observability/tracing";
import { badResponse, nonNegativeInt, toProviderError } from "./error-mapping";

const finish = (f: string | null | undefined) => (f === "length" ? "length" : "stop");

/** OpenAI Chat Completions through the official SDK; also any OpenAI-compatible base URL. */
export class OpenAIProvider implements ModelProvider {
  constructor(
    readonly name: string,
    private readonly client: OpenAI,
  ) {}

  private params(r: ModelRequest) {
    return {
      model: r.model,
      max_completion_tokens: r.maxOutputTokens,
      messages: [...(r.system ? [{ role: "system" as const, content: r.system }] : []), ...r.messages],
      ...(r.temperature !== undefined ? { temperature: r.temperature } : {}),
    };
  }

  async complete(r: ModelRequest): Promise<ModelResponse> {
    let res: OpenAI.Chat.Completions.ChatCompletion;
    try {
      res = await withSpan(`${this.name} chat.completions.create`, providerSpan(this.name, r.model), () =>
        this.client.chat.completions.create(this.params(r), r.signal ? { signal: r.signal } : {}),
      );
    } catch (error) {
      throw toProviderError(this.name, error);
    }
    const choice = Array.isArray(res?.choices) ? res.choices[0] : undefined;
    const input = nonNegativeInt(res?.usage?.prompt_tokens);
    const output = nonNegativeInt(res?.usage?.completion_tokens);
    if (
      !choice ||
      typeof choice.message?.content !== "string" ||
      input === undefined ||
      output === undefined
    ) {
      throw badResponse(this.name, "choices or usage missing");
    }
    return {
      content: choice.message.content,
      usage: {
        inputTokens: input,
        outputTokens: output,
        cachedInputTokens: nonNegativeInt(res.usage?.prompt_tokens_details?.cached_tokens) ?? 0,
      },
      finishReason: finish(choice.finish_reason),
    };
  }

  async *stream(r: ModelRequest): AsyncIterable<ModelStreamEvent> {
    let text = "";
    let usage: ModelResponse["usage"] | undefined;
    let reason: string | null | undefined;
    try {
      // the span covers the call up to the stream's first bytes (the dependency answering)
      const chunks = await withSpan(
        `${this.name} chat.completions.create`,
        providerSpan(this.name, r.model, true),
        () =>
          this.client.chat.completions.create(
            { ...this.params(r), stream: true, stream_options: { include_usage: true } },
            r.signal ? { signal: r.signal } : {},
          ),
      );
      for await (const chunk of chunks) {
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content;
        if (delta) {
          text += delta;
          yield { type: "delta", text: delta };
        }
        if (choice?.finish_reason) reason = choice.finish_reason;
        const input = nonNegativeInt(chunk.usage?.prompt_tokens);
        const output = nonNegativeInt(chunk.usage?.completion_tokens);
        if (input !== undefined && output !== undefined) {
          usage = {
            inputTokens: input,
            outputTokens: output,
            cachedInputTokens: nonNegativeInt(chunk.usage?.prompt_tokens_details?.cached_tokens) ?? 0,
          };
        }
      }
    } catch (error) {
      throw toProviderError(this.name, error);
    }
    if (!usage) throw badResponse(this.name, "stream without usage");
    yield { type: "done", response: { content: text, usage, finishReason: finish(reason) } };
  }
}
