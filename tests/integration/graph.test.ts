import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";

interface Conversation {
  id: string;
  title: string | null;
  metadata: Record<string, unknown>;
  paths: { name: string; head_message_id: string | null }[];
  context_ids: string[];
}

describe.runIf(hasPostgres())("conversation graph through the local API", () => {
  let api: TestApi;
  let a: TestTenant;
  let b: TestTenant;

  beforeAll(async () => {
    api = await startTestApi();
    a = await api.createTenant({ name: "tenant A" });
    b = await api.createTenant({ name: "tenant B" });
  });
  afterAll(async () => api?.stop());

  const call = async (method: string, path: string, key: string, json?: unknown) => {
    const res = await api.fetch(path, { method, key, ...(json !== undefined ? { json } : {}) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
  };

  /** Appends a message the way a completed turn does (append_message RPC, as the service role). */
  const append = async (tenant: TestTenant, conversationId: string, path: string, content: string) => {
    const rows = await api.db.query<{ m: { id: string } }>(
      `select public.append_message($1, $2, $3, 'user', $4) as m`,
      [tenant.tenantId, conversationId, path, content],
    );
    return rows[0]?.m.id as string;
  };

  it("creates a conversation with its main path, reads, updates and lists it", async () => {
    const created = await call("POST", "/v1/conversations", a.key, {
      title: "first",
      metadata: { team: "x" },
    });
    expect(created.status).toBe(201);
    const c = created.body as Conversation;
    expect(c.title).toBe("first");
    expect(c.metadata).toEqual({ team: "x" });
    expect(c.paths).toEqual([{ name: "main", head_message_id: null }]);
    expect(created.headers.get("x-request-id")).toBeTruthy();
    expect(created.headers.get("x-ratelimit-mode")).toBe("bypassed");

    const got = await call("GET", `/v1/conversations/${c.id}`, a.key);
    expect(got.status).toBe(200);
    expect(got.body.id).toBe(c.id);

    const patched = await call("PATCH", `/v1/conversations/${c.id}`, a.key, { title: null });
    expect(patched.status).toBe(200);
    expect(patched.body.title).toBeNull();
    expect(patched.body.metadata).toEqual({ team: "x" });
    const reread = await call("GET", `/v1/conversations/${c.id}`, a.key);
    expect(reread.body.title).toBeNull();
  });

  it("paginates conversations newest first to the end, with no duplicate and no gap", async () => {
    const t = await api.createTenant();
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await call("POST", "/v1/conversations", t.key, { title: `c${i}` });
      ids.push(r.body.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q = `/v1/conversations?limit=10${cursor ? `&cursor=${cursor}` : ""}`;
      const r = await call("GET", q, t.key);
      expect(r.status).toBe(200);
      seen.push(...r.body.data.map((c: Conversation) => c.id));
      cursor = r.body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
  });

  it("forks a path at a middle message; each branch lists its own history, shared and not copied", async () => {
    const c = (await call("POST", "/v1/conversations", a.key, { title: "fork" })).body as Conversation;
    const m = [];
    for (let i = 0; i < 4; i++) m.push(await append(a, c.id, "main", `m${i}`));
    const fork = await call("POST", `/v1/conversations/${c.id}/paths`, a.key, {
      name: "alt",
      from_message_id: m[1],
    });
    expect(fork.status).toBe(201);
    expect(fork.body).toMatchObject({ name: "alt", head_message_id: m[1] });

    await append(a, c.id, "alt", "a0");
    await append(a, c.id, "alt", "a1");
    await append(a, c.id, "main", "m4");

    const list = async (path: string, limit = 100) => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await call(
          "GET",
          `/v1/conversations/${c.id}/messages?path=${path}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
          a.key,
        );
        expect(r.status).toBe(200);
        out.push(...r.body.data.map((x: { content: string }) => x.content));
        cursor = r.body.next_cursor;
      } while (cursor);
      return out;
    };
    expect(await list("main")).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(await list("alt")).toEqual(["m0", "m1", "a0", "a1"]);
    expect(await list("main", 2)).toEqual(["m0", "m1", "m2", "m3", "m4"]);

    const rows = await api.db.query<{ n: number }>(
      "select count(*)::int as n from messages where conversation_id = $1",
      [c.id],
    );
    expect(rows[0]?.n).toBe(7); // 5 on main, 2 on alt: the shared two exist once

    const paths = await call("GET", `/v1/conversations/${c.id}/paths`, a.key);
    expect(paths.body.data.map((p: { name: string }) => p.name)).toEqual(["main", "alt"]);

    // move alt back to an ancestor: allowed; then forward again: refused
    const back = await call("PATCH", `/v1/conversations/${c.id}/paths/alt`, a.key, { head_message_id: m[0] });
    expect(back.status).toBe(200);
    expect(await list("alt")).toEqual(["m0"]);
    const forward = await call("PATCH", `/v1/conversations/${c.id}/paths/alt`, a.key, {
      head_message_id: m[3],
    });
    expect(forward.status).toBe(400);
    expect(forward.body.error.param).toBe("head_message_id");

    const dup = await call("POST", `/v1/conversations/${c.id}/paths`, a.key, {
      name: "alt",
      from_message_id: m[2],
    });
    expect(dup.status).toBe(409);
    expect(dup.body.error.type).toBe("conflict_error");
  });

  it("attaches contexts in order, counts their tokens, and keeps them per tenant", async () => {
    const x = await call("POST", "/v1/contexts", a.key, {
      name: "style",
      content: "Answer in one sentence.",
    });
    expect(x.status).toBe(201);
    expect(x.body.token_count).toBeGreaterThan(2);
    const y = await call("POST", "/v1/contexts", a.key, { name: "facts", content: "The sky is blue." });
    const c = (await call("POST", "/v1/conversations", a.key, { context_ids: [y.body.id, x.body.id] })).body;
    expect(c.context_ids).toEqual([y.body.id, x.body.id]);
    const put = await call("PUT", `/v1/conversations/${c.id}/contexts`, a.key, { context_ids: [x.body.id] });
    expect(put.status).toBe(200);
    expect(put.body.context_ids).toEqual([x.body.id]);

    const patched = await call("PATCH", `/v1/contexts/${x.body.id}`, a.key, {
      content: "Answer in two long sentences, please.",
    });
    expect(patched.body.token_count).toBeGreaterThan(x.body.token_count);
    const listed = await call("GET", "/v1/contexts?limit=100", a.key);
    expect(listed.body.data.map((d: { id: string }) => d.id)).toEqual(
      expect.arrayContaining([x.body.id, y.body.id]),
    );
    expect(listed.body.data[0].content).toBeUndefined();

    // B cannot attach A's context
    const cb = (await call("POST", "/v1/conversations", b.key, {})).body;
    const steal = await call("PUT", `/v1/conversations/${cb.id}/contexts`, b.key, {
      context_ids: [x.body.id],
    });
    expect(steal.status).toBe(404);

    const del = await call("DELETE", `/v1/contexts/${x.body.id}`, a.key);
    expect(del.status).toBe(204);
    expect((await call("GET", `/v1/conversations/${c.id}`, a.key)).body.context_ids).toEqual([]);
    expect((await call("GET", `/v1/contexts/${x.body.id}`, a.key)).status).toBe(404);
  });

  it("answers 404, never 403 or data, for another tenant's ids on every route", async () => {
    const c = (await call("POST", "/v1/conversations", a.key, { title: "private" })).body as Conversation;
    const m0 = await append(a, c.id, "main", "secret");
    const ctx = (await call("POST", "/v1/contexts", a.key, { name: "n", content: "secret" })).body;
    const probes: [string, string, unknown?][] = [
      ["GET", `/v1/conversations/${c.id}`],
      ["PATCH", `/v1/conversations/${c.id}`, { title: "mine" }],
      ["GET", `/v1/conversations/${c.id}/messages`],
      ["GET", `/v1/conversations/${c.id}/paths`],
      ["POST", `/v1/conversations/${c.id}/paths`, { name: "steal", from_message_id: m0 }],
      ["PATCH", `/v1/conversations/${c.id}/paths/main`, { head_message_id: m0 }],
      ["PUT", `/v1/conversations/${c.id}/contexts`, { context_ids: [] }],
      ["GET", `/v1/contexts/${ctx.id}`],
      ["PATCH", `/v1/contexts/${ctx.id}`, { name: "mine" }],
      ["DELETE", `/v1/contexts/${ctx.id}`],
      ["DELETE", `/v1/conversations/${c.id}`],
    ];
    for (const [method, path, json] of probes) {
      const r = await call(method, path, b.key, json);
      expect({ method, path, status: r.status }).toEqual({ method, path, status: 404 });
      expect(r.body.error.type).toBe("not_found_error");
      expect(JSON.stringify(r.body)).not.toContain("secret");
    }
    const list = await call("GET", "/v1/conversations?limit=100", b.key);
    expect(list.body.data.map((x: Conversation) => x.id)).not.toContain(c.id);
    // and A's objects are intact
    expect((await call("GET", `/v1/conversations/${c.id}`, a.key)).body.title).toBe("private");
    expect((await call("GET", `/v1/contexts/${ctx.id}`, a.key)).body.content).toBe("secret");
  });

  it("deletes a conversation with its messages and paths, leaving one conversation.deleted event", async () => {
    const c = (await call("POST", "/v1/conversations", a.key, {})).body as Conversation;
    await append(a, c.id, "main", "bye");
    const del = await call("DELETE", `/v1/conversations/${c.id}`, a.key);
    expect(del.status).toBe(204);
    expect((await call("GET", `/v1/conversations/${c.id}`, a.key)).status).toBe(404);
    const counts = await api.db.query<{ m: number; p: number; e: string[] }>(
      `select (select count(*)::int from messages where conversation_id = $1) as m,
              (select count(*)::int from paths where conversation_id = $1) as p,
              (select coalesce(array_agg(type order by id), '{}') from graph_events where conversation_id = $1) as e`,
      [c.id],
    );
    expect(counts[0]).toEqual({ m: 0, p: 0, e: ["conversation.deleted"] });
    expect((await call("DELETE", `/v1/conversations/${c.id}`, a.key)).status).toBe(404);
  });

  it("appends a graph event per change in the same transaction and NOTIFYs it", async () => {
    const listener = postgres(await dbUrl(), { max: 1, onnotice: () => {} });
    const heard: { id: number; tenant_id: string; conversation_id: string }[] = [];
    await listener.listen("graph_events", (payload) => heard.push(JSON.parse(payload)));
    try {
      const c = (await call("POST", "/v1/conversations", a.key, {})).body as Conversation;
      const m = await append(a, c.id, "main", "hello");
      await call("POST", `/v1/conversations/${c.id}/paths`, a.key, { name: "b", from_message_id: m });
      await call("PATCH", `/v1/conversations/${c.id}`, a.key, { title: "t" });
      const events = await api.db.query<{ id: string; type: string }>(
        "select id::text, type from graph_events where conversation_id = $1 order by id",
        [c.id],
      );
      expect(events.map((e) => e.type)).toEqual([
        "path.created",
        "message.created",
        "path.created",
        "conversation.updated",
      ]);
      await expect
        .poll(() => heard.filter((h) => h.conversation_id === c.id).length, { timeout: 3000 })
        .toBe(4);
      expect(heard.filter((h) => h.conversation_id === c.id).map((h) => String(h.id))).toEqual(
        events.map((e) => e.id),
      );
      expect(heard.every((h) => h.tenant_id === a.tenantId)).toBe(true);
    } finally {
      await listener.end();
    }
  });

  it("enforces scopes and refuses revoked, unknown and malformed keys", async () => {
    const { key: readOnly } = await api.createKey(a.tenantId, ["conversations:read"]);
    expect((await call("GET", "/v1/conversations", readOnly)).status).toBe(200);
    const denied = await call("POST", "/v1/conversations", readOnly, {});
    expect(denied.status).toBe(403);
    expect(denied.body.error.type).toBe("permission_error");

    const { key, keyId } = await api.createKey(a.tenantId, ["conversations:read"]);
    expect((await call("GET", "/v1/conversations", key)).status).toBe(200);
    const core = await api.core();
    await core.revokeApiKey(a.tenantId, keyId);
    const revoked = await call("GET", "/v1/conversations", key);
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.type).toBe("authentication_error");

    expect((await call("GET", "/v1/conversations", `cnd_live_${"x".repeat(32)}`)).status).toBe(401);
    expect((await call("GET", "/v1/conversations", "sk-not-ours")).status).toBe(401);
    const none = await api.fetch("/v1/conversations");
    expect(none.status).toBe(401);
  });
});

async function dbUrl(): Promise<string> {
  const { inject } = await import("vitest");
  return inject("databaseUrl");
}
