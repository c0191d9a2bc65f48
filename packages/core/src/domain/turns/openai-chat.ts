import { z } from "zod";
import { CandorError } from "../../errors";
import type { ChatMessage } from "../ports/model-provider.port";
import type { TurnRecord } from "../ports/turn-store.port";

/** Longest text a message may carry (the same bound as a context document). */
const MAX_TEXT = 200_000;
const text = z
  .string()
  .max(MAX_TEXT)
  .refine((s) => !s.includes("\u0000"), { message: "must not contain NUL characters" });

const contentPart = z.object({ type: z.literal("text"), text }).strict();
const Message = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([text, z.array(contentPart).min(1).max(100)]),
    name: z.string().max(64).optional(),
  })
  .strict();

/**
 * The OpenAI Chat Completions request, the subset Candor serves (both the non-streaming Lambda
 * route and the realtime service's streaming one); unknown fields are refused.
 */
export const CompletionBody = z
  .object({
    model: z.string().min(1).max(200),
    messages: z.array(Message).min(1).max(1_000),
    max_tokens: z.number().int().min(1).max(200_000).optional(),
    max_completion_tokens: z.number().int().min(1).max(200_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).strict().optional(),
    n: z.literal(1).optional(),
    user: z.string().max(256).optional(),
  })
  .strict();

export type CompletionRequest = z.infer<typeof CompletionBody>;

const textOf = (c: z.infer<typeof Message>["content"]) =>
  typeof c === "string" ? c : c.map((p) => p.text).join("");

/** Splits OpenAI messages into a system prompt and the user/assistant turns. */
export function toPrompt(messages: CompletionRequest["messages"]): {
  system: string | undefined;
  messages: ChatMessage[];
} {
  const system = messages
    .filter((m) => m.role === "system" || m.role === "developer")
    .map((m) => textOf(m.content))
    .join("\n\n");
  const rest = messages
    .filter((m) => m.role === "user" || m.role === "assistant")
    .map((m) => ({ role: m.role as "user" | "assistant", content: textOf(m.content) }));
  if (!rest.some((m) => m.role === "user")) {
    throw new CandorError("invalid_request", "messages must contain at least one user message", {
      param: "messages",
    });
  }
  return { system: system || undefined, messages: rest };
}

const usageOf = (r: TurnRecord) => ({
  prompt_tokens: r.usage.input_tokens,
  completion_tokens: r.usage.output_tokens,
  total_tokens: r.usage.input_tokens + r.usage.output_tokens,
  prompt_tokens_details: { cached_tokens: r.usage.cached_input_tokens },
});

/** The stored turn as an OpenAI chat.completion: the same record always maps to the same body. */
export function toChatCompletion(r: TurnRecord) {
  return {
    id: `chatcmpl-${r.turn_id}`,
    object: "chat.completion" as const,
    created: Math.floor(new Date(r.created_at).getTime() / 1000),
    model: r.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content: r.assistant_message.content, refusal: null },
        finish_reason: r.finish_reason === "length" ? "length" : "stop",
        logprobs: null,
      },
    ],
    usage: usageOf(r),
    candor: { turn_id: r.turn_id, provider: r.provider, cost: r.cost },
  };
}

/** One `chat.completion.chunk` of a stream (OpenAI's shape). */
export function chatCompletionChunk(
  id: string,
  model: string,
  created: number,
  delta: { role?: "assistant"; content?: string },
  finishReason: "stop" | "length" | null = null,
) {
  return {
    id,
    object: "chat.completion.chunk" as const,
    created,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }],
  };
}

/** The last chunk when `stream_options.include_usage`: no choices, the usage, and Candor's cost. */
export function chatCompletionUsageChunk(r: TurnRecord, id: string, created: number) {
  return {
    id,
    object: "chat.completion.chunk" as const,
    created,
    model: r.model,
    choices: [],
    usage: usageOf(r),
    candor: { turn_id: r.turn_id, provider: r.provider, cost: r.cost },
  };
}
