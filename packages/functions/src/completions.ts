import type { ChatMessage, TurnRecord } from "@candor/core";
import { CandorError } from "@candor/core";
import { z } from "zod";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import { idempotencyKey, requestHash } from "./http/idempotency";
import { LIMITS, parseBody, text } from "./http/validation";
import { core } from "./root";

const contentPart = z.object({ type: z.literal("text"), text: text(LIMITS.contextContent) }).strict();
const Message = z
  .object({
    role: z.enum(["system", "developer", "user", "assistant"]),
    content: z.union([text(LIMITS.contextContent), z.array(contentPart).min(1).max(100)]),
    name: z.string().max(64).optional(),
  })
  .strict();

/** The OpenAI Chat Completions request, the subset Candor serves; unknown fields are refused. */
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
    usage: {
      prompt_tokens: r.usage.input_tokens,
      completion_tokens: r.usage.output_tokens,
      total_tokens: r.usage.input_tokens + r.usage.output_tokens,
      prompt_tokens_details: { cached_tokens: r.usage.cached_input_tokens },
    },
    candor: { turn_id: r.turn_id, provider: r.provider, cost: r.cost },
  };
}

export const handler = createHandler(core, {
  "POST /v1/chat/completions": authed(
    core,
    "completions",
    async (ctx, p) => {
      const body = parseBody(ctx.event, CompletionBody);
      if (body.stream) {
        const where = core.config.realtimeUrl ? ` at ${core.config.realtimeUrl}/v1/chat/completions` : "";
        throw new CandorError("invalid_request", `stream: true is served by the realtime service${where}`, {
          param: "stream",
          ...(core.config.realtimeUrl ? { details: { realtime_url: core.config.realtimeUrl } } : {}),
        });
      }
      const prompt = toPrompt(body.messages);
      const { record, replayed } = await core.turns.run({
        kind: "completion",
        tenantId: p.tenantId,
        model: body.model,
        system: prompt.system,
        messages: prompt.messages,
        maxOutputTokens: body.max_completion_tokens ?? body.max_tokens ?? null,
        temperature: body.temperature,
        idempotencyKey: idempotencyKey(ctx.event),
        requestHash: requestHash(ctx.event.routeKey, {}, body),
      });
      return json(200, toChatCompletion(record), replayed ? { "idempotent-replayed": "true" } : {});
    },
    {
      tokens: async (ctx) => {
        try {
          const b = JSON.parse(ctx.event.body ?? "{}") as {
            messages?: { content?: unknown }[];
            max_tokens?: unknown;
          };
          const texts = (b.messages ?? []).map((m) => (typeof m?.content === "string" ? m.content : ""));
          return (
            (await core.turns.estimateTokens(texts)) +
            (typeof b.max_tokens === "number" ? Math.max(0, b.max_tokens) : 0)
          );
        } catch {
          return 0;
        }
      },
    },
  ),

  "GET /v1/models": authed(core, "completions", async (_ctx, p) => {
    const models = await core.rpc.call<
      {
        id: string;
        provider: string;
        model: string;
        input_usd_per_mtok: string;
        output_usd_per_mtok: string;
        cached_input_usd_per_mtok: string | null;
        effective_from: string;
      }[]
    >("list_tenant_models", { p_tenant_id: p.tenantId });
    return json(200, {
      object: "list",
      data: models.map((m) => ({
        id: m.model,
        object: "model",
        created: Math.floor(new Date(m.effective_from).getTime() / 1000),
        owned_by: m.provider,
        pricing: {
          pricing_id: m.id,
          input_usd_per_mtok: m.input_usd_per_mtok,
          output_usd_per_mtok: m.output_usd_per_mtok,
          cached_input_usd_per_mtok: m.cached_input_usd_per_mtok,
          effective_from: m.effective_from,
        },
      })),
    });
  }),
});
