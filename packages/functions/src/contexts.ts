import { z } from "zod";
import { authed } from "./http/auth";
import { createHandler, json } from "./http/handler";
import {
  decodeCursor,
  encodeCursor,
  LIMITS,
  limitParam,
  listCursor,
  parseBody,
  parseQuery,
  pathParam,
  text,
  uuid,
} from "./http/validation";
import { core } from "./root";

const name = text(LIMITS.contextName).pipe(z.string().trim().min(1));
const content = text(LIMITS.contextContent).pipe(z.string().min(1));
const CreateContext = z.object({ name, content }).strict();
const UpdateContext = z
  .object({ name: name.optional(), content: content.optional() })
  .strict()
  .refine((b) => b.name !== undefined || b.content !== undefined, {
    message: "nothing to update: send name or content",
  });
const ListQuery = z.object({ limit: limitParam, cursor: z.string().max(512).optional() }).strict();

export const handler = createHandler(core, {
  "POST /v1/contexts": authed(core, "conversations:write", async (ctx, p) => {
    const body = parseBody(ctx.event, CreateContext);
    return json(201, await core.graph.createContext(p.tenantId, body));
  }),

  "GET /v1/contexts": authed(core, "conversations:read", async (ctx, p) => {
    const q = parseQuery(ctx.event, ListQuery);
    const page = await core.graph.listContexts(p.tenantId, q.limit, decodeCursor(q.cursor, listCursor));
    return json(200, { data: page.data, next_cursor: encodeCursor(page.next) });
  }),

  "GET /v1/contexts/{id}": authed(core, "conversations:read", async (ctx, p) => {
    return json(200, await core.graph.getContext(p.tenantId, pathParam(ctx.event, "id", uuid)));
  }),

  "PATCH /v1/contexts/{id}": authed(core, "conversations:write", async (ctx, p) => {
    const contextId = pathParam(ctx.event, "id", uuid);
    const body = parseBody(ctx.event, UpdateContext);
    return json(
      200,
      await core.graph.updateContext(p.tenantId, contextId, {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.content !== undefined ? { content: body.content } : {}),
      }),
    );
  }),

  "DELETE /v1/contexts/{id}": authed(core, "conversations:write", async (ctx, p) => {
    await core.graph.deleteContext(p.tenantId, pathParam(ctx.event, "id", uuid));
    return json(204, null);
  }),
});
