import { z } from "zod";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import {
  decodeCursor,
  encodeCursor,
  LIMITS,
  limitParam,
  listCursor,
  metadata,
  parseBody,
  parseQuery,
  pathName,
  pathParam,
  text,
  uuid,
} from "./http/validation";
import { core } from "./root";

const CreateConversation = z
  .object({
    title: text(LIMITS.title).nullable().optional(),
    context_ids: z.array(uuid).max(LIMITS.contextIds).optional(),
    metadata: metadata.optional(),
  })
  .strict();

const UpdateConversation = z
  .object({ title: text(LIMITS.title).nullable().optional(), metadata: metadata.optional() })
  .strict()
  .refine((b) => b.title !== undefined || b.metadata !== undefined, {
    message: "nothing to update: send title or metadata",
  });

const ListQuery = z.object({ limit: limitParam, cursor: z.string().max(512).optional() }).strict();
const MessagesQuery = z
  .object({ limit: limitParam, cursor: z.string().max(512).optional(), path: pathName.default("main") })
  .strict();
const CreatePath = z.object({ name: pathName, from_message_id: uuid }).strict();
const MovePath = z.object({ head_message_id: uuid }).strict();
const SetContexts = z.object({ context_ids: z.array(uuid).max(LIMITS.contextIds) }).strict();

const id = (ctx: { event: Parameters<typeof pathParam>[0] }) => pathParam(ctx.event, "id", uuid);

export const handler = createHandler(core, {
  "POST /v1/conversations": authed(core, "conversations:write", async (ctx, p) => {
    const body = parseBody(ctx.event, CreateConversation);
    const conversation = await core.graph.createConversation(p.tenantId, {
      ...(body.title !== undefined ? { title: body.title } : {}),
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(body.context_ids ? { contextIds: body.context_ids } : {}),
    });
    return json(201, conversation);
  }),

  "GET /v1/conversations": authed(core, "conversations:read", async (ctx, p) => {
    const q = parseQuery(ctx.event, ListQuery);
    const page = await core.graph.listConversations(p.tenantId, q.limit, decodeCursor(q.cursor, listCursor));
    return json(200, { data: page.data, next_cursor: encodeCursor(page.next) });
  }),

  "GET /v1/conversations/{id}": authed(core, "conversations:read", async (ctx, p) => {
    return json(200, await core.graph.getConversation(p.tenantId, id(ctx)));
  }),

  "PATCH /v1/conversations/{id}": authed(core, "conversations:write", async (ctx, p) => {
    const conversationId = id(ctx);
    const body = parseBody(ctx.event, UpdateConversation);
    const conversation = await core.graph.updateConversation(p.tenantId, conversationId, {
      ...(body.title !== undefined ? { title: body.title } : {}),
      ...(body.metadata ? { metadata: body.metadata } : {}),
    });
    return json(200, conversation);
  }),

  "DELETE /v1/conversations/{id}": authed(core, "conversations:write", async (ctx, p) => {
    await core.graph.deleteConversation(p.tenantId, id(ctx));
    return json(204, null);
  }),

  "GET /v1/conversations/{id}/messages": authed(core, "conversations:read", async (ctx, p) => {
    const conversationId = id(ctx);
    const q = parseQuery(ctx.event, MessagesQuery);
    const after = decodeCursor(q.cursor, z.object({ d: z.number().int().min(-1) }).strict());
    const page = await core.graph.listPathMessages(
      p.tenantId,
      conversationId,
      q.path,
      q.limit,
      after?.d ?? -1,
    );
    return json(200, {
      data: page.data,
      next_cursor: encodeCursor(page.next === null ? null : { d: page.next }),
    });
  }),

  "POST /v1/conversations/{id}/paths": authed(core, "conversations:write", async (ctx, p) => {
    const conversationId = id(ctx);
    const body = parseBody(ctx.event, CreatePath);
    return json(
      201,
      await core.graph.createPath(p.tenantId, conversationId, body.name, body.from_message_id),
    );
  }),

  "GET /v1/conversations/{id}/paths": authed(core, "conversations:read", async (ctx, p) => {
    return json(200, { data: await core.graph.listPaths(p.tenantId, id(ctx)) });
  }),

  "PATCH /v1/conversations/{id}/paths/{name}": authed(core, "conversations:write", async (ctx, p) => {
    const conversationId = id(ctx);
    const name = pathParam(ctx.event, "name", pathName);
    const body = parseBody(ctx.event, MovePath);
    return json(200, await core.graph.movePath(p.tenantId, conversationId, name, body.head_message_id));
  }),

  "PUT /v1/conversations/{id}/contexts": authed(core, "conversations:write", async (ctx, p) => {
    const conversationId = id(ctx);
    const body = parseBody(ctx.event, SetContexts);
    return json(200, await core.graph.setConversationContexts(p.tenantId, conversationId, body.context_ids));
  }),
});
