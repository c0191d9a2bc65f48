import { CandorError, CompletionBody, type PricingCandidate, toChatCompletion, toPrompt } from "@candor/core";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import { idempotencyKey, requestHash } from "./http/idempotency";
import { parseBody } from "./http/validation";
import { core } from "./root";

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
    // list_tenant_models returns pricing_json rows: the candidates' shape, with their date
    const models = await core.rpc.call<(Omit<PricingCandidate, "base_url"> & { effective_from: string })[]>(
      "list_tenant_models",
      { p_tenant_id: p.tenantId },
    );
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
