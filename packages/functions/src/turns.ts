import { z } from "zod";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import { idempotencyKey, requestHash } from "./http/idempotency";
import { LIMITS, parseBody, pathName, pathParam, text, uuid } from "./http/validation";
import { core } from "./root";

export const TurnBody = z
  .object({
    content: text(LIMITS.contextContent).pipe(z.string().min(1)),
    path: pathName.default("main"),
    model: z.string().min(1).max(200).optional(),
    max_output_tokens: z.number().int().min(1).max(200_000).optional(),
    temperature: z.number().min(0).max(2).optional(),
  })
  .strict();

export const handler = createHandler(core, {
  "POST /v1/conversations/{id}/messages": authed(
    core,
    "completions",
    async (ctx, p) => {
      const conversationId = pathParam(ctx.event, "id", uuid);
      const body = parseBody(ctx.event, TurnBody);
      const key = idempotencyKey(ctx.event);
      const { record, replayed } = await core.turns.run({
        kind: "conversation",
        tenantId: p.tenantId,
        conversationId,
        path: body.path,
        content: body.content,
        model: body.model ?? null,
        maxOutputTokens: body.max_output_tokens ?? null,
        temperature: body.temperature,
        idempotencyKey: key,
        requestHash: requestHash(ctx.event.routeKey, { id: conversationId }, body),
      });
      const { finish_reason: _f, created_at: _c, ...response } = record;
      return json(201, response, replayed ? { "idempotent-replayed": "true" } : {});
    },
    { tokens: (ctx) => estimateTokens(ctx.event.body) },
  ),
});

/** Tokens-per-minute estimate before the body is validated: the content plus the output allowance. */
async function estimateTokens(raw: string | undefined): Promise<number> {
  try {
    const b = JSON.parse(raw ?? "{}") as { content?: unknown; max_output_tokens?: unknown };
    const content = typeof b.content === "string" ? b.content : "";
    const out = typeof b.max_output_tokens === "number" ? b.max_output_tokens : 0;
    return (await core.turns.estimateTokens([content])) + Math.max(0, Math.min(out, 200_000));
  } catch {
    return 0; // malformed bodies are refused by validation; the request limit still applies
  }
}
