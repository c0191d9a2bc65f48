import { CandorError, issueStreamToken, listTools } from "@candor/core";
import { z } from "zod";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import { parseBody, parseQuery, uuid } from "./http/validation";
import { core } from "./root";

const StreamTokenBody = z.object({ conversation_id: uuid }).strict();

const isoDate = z.iso.datetime({ offset: true }).or(z.iso.date());
const UsageQuery = z
  .object({
    from: isoDate.optional(),
    to: isoDate.optional(),
    group_by: z.enum(["day", "model", "conversation", "path"]).default("day"),
  })
  .strict();

export const handler = createHandler(core, {
  "GET /v1/tools": authed(core, "conversations:read", async () => {
    return json(200, { data: listTools({ e2bConfigured: Boolean(core.config.e2bApiKey) }) });
  }),

  "GET /v1/usage": authed(core, "usage:read", async (ctx, p) => {
    const q = parseQuery(ctx.event, UsageQuery);
    const now = new Date();
    const to = q.to ? new Date(q.to) : now;
    const from = q.from ? new Date(q.from) : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const summary = await core.rpc.call("usage_summary", {
      p_tenant_id: p.tenantId,
      p_from: from.toISOString(),
      p_to: to.toISOString(),
      p_group_by: q.group_by,
    });
    return json(200, summary);
  }),

  "POST /v1/stream-tokens": authed(core, "conversations:read", async (ctx, p) => {
    const body = parseBody(ctx.event, StreamTokenBody);
    const secret = core.config.streamTokenSecret;
    if (!secret) {
      throw new CandorError("configuration_error", "Stream tokens are not configured (STREAM_TOKEN_SECRET)");
    }
    await core.graph.getConversation(p.tenantId, body.conversation_id); // 404 for another tenant's id
    const { token, expiresAt } = issueStreamToken(secret, {
      tenantId: p.tenantId,
      conversationId: body.conversation_id,
      keyId: p.keyId,
    });
    return json(201, { token, expires_at: expiresAt.toISOString() });
  }),
});
