/**
 * Supabase conformance (reference/protocols.md C3, checks 9-15): the real `@supabase/supabase-js`
 * over real HTTP, against the local endpoint on PostgreSQL 15 (full suite) and on PGlite (the C3
 * checks), or against a real Supabase project with CANDOR_CONFORMANCE_TARGET=cloud and
 * SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY, SUPABASE_JWT_SECRET set (fixtures
 * installed beforehand from tests/conformance/supabase-fixtures.sql). Assertions are on `code` and
 * `status`, never on PostgREST message text, which changes between versions.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createClient, type SupabaseClient, type SupabaseClientOptions } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { migrate } from "../../infra/local/db/migrate";
import { createPGliteDatabase } from "../../infra/local/db/pglite-database";
import { createPostgresDatabase } from "../../infra/local/db/postgres-database";
import type { SqlDatabase } from "../../infra/local/db/sql-database";
import { type LocalSupabase, signSupabaseJwt, startLocalSupabase } from "../../infra/local/supabase";
import { hasPostgres } from "../support/requires";
import { createScratchDatabase } from "../support/scratch-database";
import { startTcpProxy } from "../support/tcp-proxy";

const CLOUD = process.env.CANDOR_CONFORMANCE_TARGET === "cloud";
// `ws` is the transport at runtime; its class type differs from realtime-js's structural one in details
type RealtimeTransport = NonNullable<NonNullable<SupabaseClientOptions<"public">["realtime"]>["transport"]>;
const FIXTURES = new URL("./supabase-fixtures.sql", import.meta.url);

interface Target {
  url: string;
  anonKey: string;
  serviceRoleKey: string;
  jwtSecret: string;
}

/** One HTTP exchange as the client's fetch saw it. */
interface Exchange {
  method: string;
  url: URL;
  headers: Headers;
  status?: number;
  responseHeaders?: Headers;
}

function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const exchange: Exchange = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
    };
    log.push(exchange);
    const response = await fetch(input, init);
    exchange.status = response.status;
    exchange.responseHeaders = response.headers;
    return response;
  };
}

interface Connected {
  client: SupabaseClient;
  log: Exchange[];
  last(): Exchange;
}

function connect(target: Target, key: string, accessToken?: string): Connected {
  const log: Exchange[] = [];
  const client = createClient(target.url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    // Node 20 has no global WebSocket: supabase-js refuses to start without a transport
    realtime: { transport: WebSocket as unknown as RealtimeTransport },
    global: { fetch: recordingFetch(log) },
    ...(accessToken ? { accessToken: async () => accessToken } : {}),
  });
  return {
    client,
    log,
    last() {
      const exchange = log[log.length - 1];
      if (!exchange) throw new Error("no request was recorded");
      return exchange;
    },
  };
}

const now = () => Math.floor(Date.now() / 1000);

function userJwt(target: Target, claims: Record<string, unknown> = {}): string {
  return signSupabaseJwt(target.jwtSecret, {
    role: "authenticated",
    sub: randomUUID(),
    aud: "authenticated",
    iat: now(),
    exp: now() + 3600,
    ...claims,
  });
}

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<
    string,
    unknown
  >;
}

/** A request supabase-js cannot make (bad body, other methods, other headers). */
function rawRequest(
  target: Target,
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
) {
  return fetch(`${target.url}/rest/v1/${path}`, {
    ...init,
    headers: { apikey: target.anonKey, Authorization: `Bearer ${target.anonKey}`, ...init.headers },
  });
}

/** The seven Supabase checks of protocols.md C3 (9-15), each its own test. */
function defineC3Checks(getTarget: () => Target) {
  it("C3.9 rpc add: POST /rest/v1/rpc/<fn> with Content-Profile, apikey, Bearer; get:true is a GET with Accept-Profile", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);

    const posted = await client.rpc("conformance_add", { a: 2, b: 3 });
    expect(posted).toMatchObject({ data: 5, error: null, status: 200 });
    const post = last();
    expect(post.method).toBe("POST");
    expect(post.url.pathname).toBe("/rest/v1/rpc/conformance_add");
    expect(post.url.search).toBe("");
    expect(post.headers.get("content-profile")).toBe("public");
    expect(post.headers.get("content-type")).toBe("application/json");
    expect(post.headers.get("apikey")).toBe(t.anonKey);
    expect(post.headers.get("authorization")).toBe(`Bearer ${t.anonKey}`);

    const got = await client.rpc("conformance_add", { a: 2, b: 3 }, { get: true });
    expect(got).toMatchObject({ data: 5, error: null, status: 200 });
    const get = last();
    expect(get.method).toBe("GET");
    expect(get.url.pathname).toBe("/rest/v1/rpc/conformance_add");
    expect(Object.fromEntries(get.url.searchParams)).toEqual({ a: "2", b: "3" });
    expect(get.headers.get("accept-profile")).toBe("public");
    expect(get.headers.get("content-profile")).toBeNull();
    expect(get.headers.get("apikey")).toBe(t.anonKey);

    // a different sum proves the arguments reach the function
    expect((await client.rpc("conformance_add", { a: -7, b: 100 })).data).toBe(93);
  });

  it("C3.10 return shapes: scalar, void 204, setof scalar, composite (all-null when no row), setof composite, jsonb/int[] args, DEFAULT", async () => {
    const t = getTarget();
    const { client } = connect(t, t.anonKey);

    const voided = await client.rpc("conformance_noop");
    expect(voided).toMatchObject({ data: null, error: null, status: 204 });

    const series = await client.rpc("conformance_series", { n: 4 });
    expect(series).toMatchObject({ data: [1, 2, 3, 4], error: null, status: 200 });
    expect((await client.rpc("conformance_series", { n: 0 })).data).toEqual([]);

    const item = await client.rpc("conformance_item", { p_id: 2 });
    expect(item).toMatchObject({ data: { id: 2, name: "b", qty: 7 }, error: null, status: 200 });
    const none = await client.rpc("conformance_item", { p_id: 999 });
    expect(none).toMatchObject({ data: { id: null, name: null, qty: null }, error: null, status: 200 });

    const out = await client.rpc("conformance_pair", { x: 4 });
    expect(out.data).toEqual({ doubled: 8, label: "x=4" });

    const many = await client.rpc("conformance_items_min", { min_qty: 5 });
    expect(many.error).toBeNull();
    expect(many.data).toEqual([
      { id: 2, name: "b", qty: 7 },
      { id: 3, name: "c", qty: 5 },
      { id: 5, name: "e", qty: 9 },
    ]);
    expect((await client.rpc("conformance_items_min", { min_qty: 100 })).data).toEqual([]);

    const j = { nested: { list: [1, "two", null, true], emoji: "héllo 🌍" }, empty: {} };
    const echoed = await client.rpc("conformance_echo", { j, arr: [3, 1, 2] });
    expect(echoed.error).toBeNull();
    expect(echoed.data).toEqual({ j, arr: [3, 1, 2], arr_type: "integer[]", len: 3 });

    // omitted parameters take their DEFAULT; given ones override it
    expect((await client.rpc("conformance_with_default", { a: 1 })).data).toBe(11);
    expect((await client.rpc("conformance_with_default", { a: 1, b: 2 })).data).toBe(3);
    expect((await client.rpc("conformance_items_min")).data).toHaveLength(5);
  });

  it("C3.11 unknown function or wrong argument names: 404 PGRST202, data null", async () => {
    const t = getTarget();
    const { client } = connect(t, t.anonKey);

    const unknown = await client.rpc("conformance_does_not_exist", { a: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.data).toBeNull();
    expect(unknown.error).toMatchObject({ code: "PGRST202" });
    expect(Object.keys(unknown.error ?? {}).sort()).toEqual(["code", "details", "hint", "message"]);

    const wrongNames = await client.rpc("conformance_add", { a: 1, c: 2 });
    expect(wrongNames).toMatchObject({ status: 404, data: null, error: { code: "PGRST202" } });
    const missingRequired = await client.rpc("conformance_add", { a: 1 });
    expect(missingRequired).toMatchObject({ status: 404, error: { code: "PGRST202" } });
    const viaGet = await client.rpc("conformance_add", { x: 1, y: 2 }, { get: true });
    expect(viaGet).toMatchObject({ status: 404, data: null, error: { code: "PGRST202" } });
  });

  it("C3.12 error mapping: P0001 400 with detail/hint, PT402 402, 23505 409, 22P02 400, 42501 401 anon / 403 authenticated", async () => {
    const t = getTarget();
    const anon = connect(t, t.anonKey).client;

    const raised = await anon.rpc("conformance_raise");
    expect(raised.status).toBe(400);
    expect(raised.data).toBeNull();
    expect(raised.error).toEqual({
      code: "P0001",
      message: "conformance failure",
      details: "the detail",
      hint: "the hint",
    });

    const pt = await anon.rpc("conformance_raise_pt402");
    expect(pt.status).toBe(402);
    expect(pt.error).toMatchObject({ code: "PT402", message: "payment required", details: null, hint: null });

    const duplicate = await anon.rpc("conformance_insert_unique", { k: "taken" });
    expect(duplicate.status).toBe(409);
    expect(duplicate.error).toMatchObject({ code: "23505" });

    const badInput = await anon.rpc("conformance_int", { x: "not a number" });
    expect(badInput.status).toBe(400);
    expect(badInput.error).toMatchObject({ code: "22P02" });

    const anonDenied = await anon.rpc("conformance_secret");
    expect(anonDenied).toMatchObject({ status: 401, data: null, error: { code: "42501" } });

    const user = connect(t, t.anonKey, userJwt(t)).client;
    const userDenied = await user.rpc("conformance_secret");
    expect(userDenied).toMatchObject({ status: 403, data: null, error: { code: "42501" } });

    // the grant is what differs: the service role may call it
    const service = connect(t, t.serviceRoleKey).client;
    expect(await service.rpc("conformance_secret")).toMatchObject({
      status: 200,
      data: "secret",
      error: null,
    });
  });

  it("C3.13 role and claims: the function sees the JWT role and claims; expired or forged JWT is 401 PGRST301", async () => {
    const t = getTarget();

    const anon = await connect(t, t.anonKey).client.rpc("conformance_whoami");
    expect(anon.error).toBeNull();
    expect(anon.data.current_user).toBe("anon");
    expect(anon.data.claims).toEqual(jwtPayload(t.anonKey));
    expect(anon.data.method).toBe("POST");
    expect(anon.data.path).toBe("/rpc/conformance_whoami");
    expect(anon.data.headers.apikey).toBe(t.anonKey);
    expect(anon.data.headers["x-client-info"]).toMatch(/^supabase-js/);

    const sub = randomUUID();
    const token = userJwt(t, { sub, email: "someone@example.test", app_metadata: { tenant: "t1" } });
    const user = connect(t, t.anonKey, token);
    const seen = await user.client.rpc("conformance_whoami", {}, { get: true });
    expect(seen.error).toBeNull();
    expect(user.last().headers.get("authorization")).toBe(`Bearer ${token}`);
    expect(seen.data.current_user).toBe("authenticated");
    expect(seen.data.claims).toMatchObject({
      role: "authenticated",
      sub,
      email: "someone@example.test",
      app_metadata: { tenant: "t1" },
    });
    expect(seen.data.method).toBe("GET");

    const service = await connect(t, t.serviceRoleKey).client.rpc("conformance_whoami");
    expect(service.data.current_user).toBe("service_role");

    // 30 s of clock skew is tolerated, more is not
    const withinSkew = await connect(t, t.anonKey, userJwt(t, { exp: now() - 5 })).client.rpc(
      "conformance_whoami",
    );
    expect(withinSkew.status).toBe(200);
    const expired = connect(t, t.anonKey, userJwt(t, { iat: now() - 600, exp: now() - 120 }));
    const rejected = await expired.client.rpc("conformance_whoami");
    expect(rejected).toMatchObject({ status: 401, data: null, error: { code: "PGRST301" } });
    expect(expired.last().responseHeaders?.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);

    const forged = signSupabaseJwt(`${t.jwtSecret}-not`, { role: "service_role", exp: now() + 3600 });
    const forgedResult = await connect(t, t.anonKey, forged).client.rpc("conformance_whoami");
    expect(forgedResult).toMatchObject({ status: 401, error: { code: "PGRST301" } });
  });

  it("C3.14 transaction mode: a VOLATILE writer works via POST, 405 25006 via GET; STABLE runs read-only", async () => {
    const t = getTarget();
    const { client } = connect(t, t.anonKey);
    const name = `c314-${randomUUID()}`;

    expect(await client.rpc("conformance_bump", { p_name: name })).toMatchObject({
      data: 1,
      error: null,
      status: 200,
    });
    expect((await client.rpc("conformance_bump", { p_name: name })).data).toBe(2);

    const viaGet = await client.rpc("conformance_bump", { p_name: name }, { get: true });
    expect(viaGet).toMatchObject({ status: 405, data: null, error: { code: "25006" } });
    // the refused write left nothing behind
    expect((await client.rpc("conformance_bump", { p_name: name })).data).toBe(3);

    expect((await client.rpc("conformance_tx_read_only")).data).toBe("on");
    expect((await client.rpc("conformance_tx_read_only_volatile")).data).toBe("off");
    expect((await client.rpc("conformance_tx_read_only_volatile", {}, { get: true })).data).toBe("on");
  });

  it("C3.15 single/maybeSingle, count=exact with 206, filters on setof RPC and table, unexposed schema 406 PGRST106", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);

    const zero = await client.rpc("conformance_items_min", { min_qty: 100 }).single();
    expect(last().headers.get("accept")).toBe("application/vnd.pgrst.object+json");
    expect(zero).toMatchObject({
      status: 406,
      data: null,
      error: { code: "PGRST116", details: "The result contains 0 rows" },
    });
    const three = await client.rpc("conformance_items_min", { min_qty: 5 }).single();
    expect(three).toMatchObject({
      status: 406,
      error: { code: "PGRST116", details: "The result contains 3 rows" },
    });
    const one = await client.rpc("conformance_items_min", { min_qty: 9 }).single();
    expect(one).toMatchObject({ status: 200, error: null, data: { id: 5, name: "e", qty: 9 } });
    const tableSingle = await client.from("conformance_items").select("id").gt("qty", 0).single();
    expect(tableSingle).toMatchObject({
      status: 406,
      error: { code: "PGRST116", details: "The result contains 5 rows" },
    });

    const maybeNone = await client.rpc("conformance_items_min", { min_qty: 100 }).maybeSingle();
    expect(maybeNone).toMatchObject({ data: null, error: null });
    const maybeOne = await client.from("conformance_items").select("id,name").eq("id", 4).maybeSingle();
    expect(maybeOne).toMatchObject({ data: { id: 4, name: "d" }, error: null });

    const counted = await client.rpc("conformance_items_min", {}, { count: "exact" }).limit(2);
    expect(last().headers.get("prefer")).toBe("count=exact");
    expect(counted).toMatchObject({ status: 206, count: 5, error: null });
    expect(counted.data).toHaveLength(2);
    expect(last().responseHeaders?.get("content-range")).toBe("0-1/5");
    const tableCount = await client
      .from("conformance_items")
      .select("id,name", { count: "exact" })
      .order("id", { ascending: true })
      .range(1, 2);
    expect(tableCount).toMatchObject({
      status: 206,
      count: 5,
      data: [
        { id: 2, name: "b" },
        { id: 3, name: "c" },
      ],
    });
    const fullPage = await client.from("conformance_items").select("id", { count: "exact" });
    expect(fullPage).toMatchObject({ status: 200, count: 5 });

    const filtered = await client
      .rpc("conformance_items_min", { min_qty: 0 })
      .gte("qty", 5)
      .order("qty", { ascending: false })
      .limit(2);
    const request = last();
    expect(request.method).toBe("POST");
    expect(request.url.pathname).toBe("/rest/v1/rpc/conformance_items_min");
    expect(Object.fromEntries(request.url.searchParams)).toEqual({
      qty: "gte.5",
      order: "qty.desc",
      limit: "2",
    });
    expect(filtered.data).toEqual([
      { id: 5, name: "e", qty: 9 },
      { id: 2, name: "b", qty: 7 },
    ]);

    const table = await client
      .from("conformance_items")
      .select("id,name")
      .in("id", [1, 3, 4])
      .neq("name", "c")
      .order("id", { ascending: false });
    expect(last().url.pathname).toBe("/rest/v1/conformance_items");
    expect(last().headers.get("accept-profile")).toBe("public");
    expect(table).toMatchObject({
      status: 200,
      error: null,
      data: [
        { id: 4, name: "d" },
        { id: 1, name: "a" },
      ],
    });
    const offsetPage = await client.from("conformance_items").select("id").order("id").range(3, 10);
    expect(offsetPage.data).toEqual([{ id: 4 }, { id: 5 }]);

    const hiddenRpc = await client.schema("conformance_private").rpc("hidden");
    expect(last().headers.get("content-profile")).toBe("conformance_private");
    expect(hiddenRpc).toMatchObject({ status: 406, data: null, error: { code: "PGRST106" } });
    const hiddenTable = await client.schema("conformance_private").from("anything").select();
    expect(hiddenTable).toMatchObject({ status: 406, error: { code: "PGRST106" } });
  });
}

/** PostgREST behaviour beyond C3 that the application relies on or that guards the emulator. */
function defineSemanticsChecks(getTarget: () => Target) {
  it("response.status and response.headers GUCs set the status and headers", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);
    const created = await client.rpc("conformance_created");
    expect(created).toMatchObject({ status: 201, data: "created", error: null });
    expect(last().responseHeaders?.get("x-conformance")).toBe("created");
  });

  it("RAISE SQLSTATE 'PGRST' controls status, headers and the whole error body", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);
    const raised = await client.rpc("conformance_raise_pgrst");
    expect(raised.status).toBe(418);
    expect(raised.error).toEqual({ code: "CF123", message: "custom teapot", details: "d", hint: "h" });
    expect(last().responseHeaders?.get("x-conformance-raise")).toBe("yes");
  });

  it("overloads with the same argument names are ambiguous: 300 PGRST203", async () => {
    const t = getTarget();
    const result = await connect(t, t.anonKey).client.rpc("conformance_overloaded", { a: 1 });
    expect(result).toMatchObject({ status: 300, data: null, error: { code: "PGRST203" } });
  });

  it("a single unnamed jsonb parameter receives the whole body", async () => {
    const t = getTarget();
    const body = { any: ["shape", 1], of: { body: true } };
    const result = await connect(t, t.anonKey).client.rpc("conformance_body", body);
    expect(result).toMatchObject({ status: 200, error: null, data: body });
  });

  it("db-max-rows caps set-returning results at 1000; the exact count still says how many there are", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);
    const capped = await client.rpc("conformance_series", { n: 1200 });
    expect(capped.data).toHaveLength(1000);
    const counted = await client.rpc("conformance_series", { n: 1200 }, { count: "exact" });
    expect(counted).toMatchObject({ status: 206, count: 1200 });
    expect(last().responseHeaders?.get("content-range")).toBe("0-999/1200");
  });

  it("RLS is the database's: anon reads no row of a table without a policy, service_role reads them all", async () => {
    const t = getTarget();
    const anon = await connect(t, t.anonKey).client.from("conformance_private_rows").select("id");
    expect(anon).toMatchObject({ status: 200, error: null, data: [] });
    const service = await connect(t, t.serviceRoleKey)
      .client.from("conformance_private_rows")
      .select("id")
      .order("id");
    expect(service).toMatchObject({ status: 200, data: [{ id: 1 }, { id: 2 }] });
  });

  it("unknown table is 404; HEAD with count reports the count without a body", async () => {
    const t = getTarget();
    const { client } = connect(t, t.anonKey);
    const missing = await client.from("conformance_no_such_table").select();
    expect(missing.status).toBe(404);
    expect(["PGRST205", "42P01"]).toContain(missing.error?.code);
    const head = await client.from("conformance_items").select("*", { count: "exact", head: true });
    expect(head).toMatchObject({ status: 200, count: 5, data: null, error: null });
    const headRpc = await client.rpc("conformance_series", { n: 7 }, { head: true, count: "exact" });
    expect(headRpc).toMatchObject({ count: 7, data: null, error: null });
  });

  it("GET separates arguments from filters, order and limit by PostgREST's rules", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);
    const result = await client
      .rpc("conformance_items_min", { min_qty: 2 }, { get: true })
      .lt("qty", 8)
      .order("id", { ascending: false })
      .limit(2);
    expect(Object.fromEntries(last().url.searchParams)).toEqual({
      min_qty: "2",
      qty: "lt.8",
      order: "id.desc",
      limit: "2",
    });
    expect(result).toMatchObject({ status: 200, error: null });
    expect(result.data).toEqual([
      { id: 3, name: "c", qty: 5 },
      { id: 2, name: "b", qty: 7 },
    ]);
    // a value that starts with an operator is a filter, not an argument: no function has `qty`
    const onlyFilter = await client.rpc("conformance_items_min", {}, { get: true }).eq("qty", 9);
    expect(onlyFilter.data).toEqual([{ id: 5, name: "e", qty: 9 }]);
  });

  it("a .single() that fails on a writer rolls its write back; one that succeeds commits", async () => {
    const t = getTarget();
    const { client, last } = connect(t, t.anonKey);
    const name = `single-${randomUUID()}`;
    const failed = await client.rpc("conformance_bump_series", { p_name: name, n: 2 }).single();
    expect(last().headers.get("accept")).toBe("application/vnd.pgrst.object+json");
    expect(failed).toMatchObject({
      status: 406,
      error: { code: "PGRST116", details: "The result contains 2 rows" },
    });
    expect((await client.rpc("conformance_bump", { p_name: name })).data).toBe(1);
    const one = await client.rpc("conformance_bump_series", { p_name: name, n: 1 }).single();
    expect(one).toMatchObject({ status: 200, data: 1, error: null });
    expect((await client.rpc("conformance_bump", { p_name: name })).data).toBe(3);
  });

  it("invalid JSON body is 400 PGRST102; other methods on /rpc are 405 PGRST101", async () => {
    const t = getTarget();
    const bad = await rawRequest(t, "rpc/conformance_add", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{not json",
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "PGRST102" });
    const put = await rawRequest(t, "rpc/conformance_add", {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(put.status).toBe(405);
    expect(await put.json()).toMatchObject({ code: "PGRST101" });
  });
}

async function installFixtures(db: SqlDatabase) {
  await migrate(db); // the Supabase roles (anon, authenticated, service_role, authenticator)
  await db.exec(await readFile(FIXTURES, "utf8"));
}

// Registered only with real credentials (CANDOR_CONFORMANCE_TARGET=cloud): the same checks, against
// a Supabase project instead of the local endpoint.
if (CLOUD) {
  describe("Supabase conformance: cloud project", () => {
    let target: Target;
    beforeAll(() => {
      const env = (name: string) => {
        const value = process.env[name];
        if (!value) throw new Error(`CANDOR_CONFORMANCE_TARGET=cloud needs ${name}`);
        return value;
      };
      target = {
        url: env("SUPABASE_URL"),
        anonKey: env("SUPABASE_ANON_KEY"),
        serviceRoleKey: env("SUPABASE_SERVICE_ROLE_KEY"),
        jwtSecret: env("SUPABASE_JWT_SECRET"),
      };
    });
    defineC3Checks(() => target);
    defineSemanticsChecks(() => target);
  });
}

describe.runIf(!CLOUD && hasPostgres())("Supabase conformance: local endpoint on PostgreSQL 15", () => {
  let target: Target;
  let endpoint: LocalSupabase;
  let admin: SqlDatabase;
  let endpointDb: SqlDatabase;
  let drop: () => Promise<void>;
  let scratchUrl: string;

  beforeAll(async () => {
    const scratch = await createScratchDatabase("supabase");
    drop = scratch.drop;
    scratchUrl = scratch.url;
    admin = createPostgresDatabase({ url: scratch.url, max: 2 });
    await installFixtures(admin);
    // the Supabase role model: connect as authenticator, switch to the JWT's role per request
    endpointDb = createPostgresDatabase({ url: scratch.url, user: "authenticator", max: 4 });
    const jwtSecret = randomBytes(32).toString("hex");
    endpoint = await startLocalSupabase({ db: endpointDb, jwtSecret });
    await endpoint.reloadSchema();
    target = {
      url: endpoint.url,
      anonKey: endpoint.anonKey,
      serviceRoleKey: endpoint.serviceRoleKey,
      jwtSecret,
    };
  });
  afterAll(async () => {
    await endpoint?.close();
    await endpointDb?.close();
    await admin?.close();
    await drop?.();
  });

  defineC3Checks(() => target);
  defineSemanticsChecks(() => target);

  it("connects as authenticator and still runs as the JWT role", async () => {
    const rows = await endpointDb.query<{ u: string }>("select session_user::text as u");
    expect(rows[0]?.u).toBe("authenticator");
    const { data } = await connect(target, target.anonKey).client.rpc("conformance_whoami");
    expect(data.current_user).toBe("anon");
    expect(data.search_path).toBe('"public", "extensions"');
  });

  it("the gateway requires a valid apikey: 401 like Kong", async () => {
    const missing = await fetch(`${target.url}/rest/v1/rpc/conformance_add`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${target.anonKey}` },
      body: JSON.stringify({ a: 1, b: 2 }),
    });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({ message: "No API key found in request" });
    const forged = await rawRequest(target, "rpc/conformance_add", {
      method: "POST",
      headers: {
        apikey: signSupabaseJwt("another-secret", { role: "anon" }),
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ a: 1, b: 2 }),
    });
    expect(forged.status).toBe(401);
    const ok = await rawRequest(target, "rpc/conformance_add", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ a: 1, b: 2 }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("3");
  });

  it("Prefer: tx=rollback answers the result and keeps nothing", async () => {
    const name = `rollback-${randomUUID()}`;
    const call = (prefer?: string) =>
      rawRequest(target, "rpc/conformance_bump", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...(prefer ? { Prefer: prefer } : {}) },
        body: JSON.stringify({ p_name: name }),
      });
    const rolledBack = await call("tx=rollback");
    expect(rolledBack.status).toBe(200);
    expect(rolledBack.headers.get("preference-applied")).toBe("tx=rollback");
    expect(await rolledBack.text()).toBe("1");
    const kept = await call();
    expect(await kept.text()).toBe("1");
    expect(await (await call()).text()).toBe("2");
  });

  it("new functions 404 until the schema is reloaded, by reloadSchema() or NOTIFY pgrst", async () => {
    const { client } = connect(target, target.anonKey);
    await admin.exec(`create function public.conformance_late() returns int language sql as $$ select 42 $$;
      grant execute on function public.conformance_late() to anon;`);
    expect((await client.rpc("conformance_late")).status).toBe(404);
    await endpoint.reloadSchema();
    expect(await client.rpc("conformance_late")).toMatchObject({ status: 200, data: 42 });

    await admin.exec(`create function public.conformance_later() returns int language sql as $$ select 43 $$;
      grant execute on function public.conformance_later() to anon;`);
    expect((await client.rpc("conformance_later")).status).toBe(404);
    await admin.exec(`notify pgrst, 'reload schema'`);
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await client.rpc("conformance_later")).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });

  it("a connection terminated mid-call is a 503 at once, and the next call reconnects", async () => {
    const { client } = connect(target, target.anonKey);
    // a PostgrestBuilder is lazy: then() sends it
    const pending = client.rpc("conformance_sleep", { seconds: 10 }).then((r) => r);
    let killed = 0;
    for (let i = 0; i < 100 && killed === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const rows = await admin.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
          where usename = 'authenticator' and datname = current_database()
            and query like '%conformance_sleep%' and pid <> pg_backend_pid()`,
      );
      killed = rows[0]?.n ?? 0;
    }
    expect(killed).toBe(1);
    const started = performance.now();
    const result = await pending;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(result).toMatchObject({ status: 503, data: null });
    expect(result.error?.code).toMatch(/^(57P01|PGRST00\d)$/);
    expect(await client.rpc("conformance_add", { a: 1, b: 1 })).toMatchObject({ status: 200, data: 2 });
  });

  it("PostgreSQL going away after start is a quick 503; when it is back, calls succeed again", async () => {
    const upstream = new URL(scratchUrl);
    const proxy = await startTcpProxy({ host: upstream.hostname, port: Number(upstream.port || 5432) });
    const viaProxy = new URL(scratchUrl);
    viaProxy.port = String(proxy.port);
    const db = createPostgresDatabase({
      url: viaProxy.toString(),
      user: "authenticator",
      max: 2,
      connectTimeoutSeconds: 1,
    });
    const ep = await startLocalSupabase({ db, jwtSecret: target.jwtSecret });
    try {
      const { client } = connect({ ...target, url: ep.url }, ep.anonKey);
      expect(await client.rpc("conformance_add", { a: 1, b: 2 })).toMatchObject({ status: 200, data: 3 });
      await proxy.cut();
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const down = await client.rpc("conformance_add", { a: 1, b: 2 });
        expect(performance.now() - started).toBeLessThan(2000);
        expect(down).toMatchObject({ status: 503, data: null });
        expect(down.error?.code).toMatch(/^(PGRST00\d|57P01)$/);
      }
      await proxy.restore();
      let back = await client.rpc("conformance_add", { a: 1, b: 2 });
      for (let i = 0; i < 20 && back.status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        back = await client.rpc("conformance_add", { a: 1, b: 2 });
      }
      expect(back).toMatchObject({ status: 200, data: 3 });
    } finally {
      await ep.close();
      await db.close();
      await proxy.close();
    }
  });

  it("filters: is, in, like, not, and bad operators are 400 PGRST100", async () => {
    const { client } = connect(target, target.anonKey);
    const likes = await client
      .from("conformance_items")
      .select("name")
      .like("name", "*")
      .not("name", "in", '("a","b")')
      .order("name");
    expect(likes.data).toEqual([{ name: "c" }, { name: "d" }, { name: "e" }]);
    const isNull = await client.from("conformance_items").select("id").is("name", null);
    expect(isNull).toMatchObject({ status: 200, data: [] });
    const aliased = await client.from("conformance_items").select("ident:id,qty::text").eq("id", 1);
    expect(aliased.data).toEqual([{ ident: 1, qty: "3" }]);
    const bad = await rawRequest(target, "conformance_items?id=nope.1");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "PGRST100" });
    const badLimit = await rawRequest(target, "conformance_items?limit=abc");
    expect(badLimit.status).toBe(400);
  });
});

describe.runIf(!CLOUD)("Supabase conformance: local endpoint on PGlite", () => {
  let target: Target;
  let endpoint: LocalSupabase;
  let db: SqlDatabase;

  beforeAll(async () => {
    db = await createPGliteDatabase();
    await installFixtures(db);
    const jwtSecret = randomBytes(32).toString("hex");
    endpoint = await startLocalSupabase({ db, jwtSecret });
    await endpoint.reloadSchema();
    target = {
      url: endpoint.url,
      anonKey: endpoint.anonKey,
      serviceRoleKey: endpoint.serviceRoleKey,
      jwtSecret,
    };
  });
  afterAll(async () => {
    await endpoint?.close();
    await db?.close();
  });

  defineC3Checks(() => target);
});

describe.runIf(!CLOUD)("Supabase conformance: database unreachable", () => {
  let endpoint: LocalSupabase;
  let db: SqlDatabase;

  beforeAll(async () => {
    // nothing listens on port 1: the connection is refused
    db = createPostgresDatabase({
      url: "postgres://postgres@127.0.0.1:1/x",
      user: "authenticator",
      connectTimeoutSeconds: 1,
    });
    endpoint = await startLocalSupabase({ db, jwtSecret: randomBytes(32).toString("hex") });
  });
  afterAll(async () => {
    await endpoint?.close();
    await db?.close();
  });

  it("answers 503 quickly instead of hanging or pretending (fail closed)", async () => {
    const target: Target = {
      url: endpoint.url,
      anonKey: endpoint.anonKey,
      serviceRoleKey: endpoint.serviceRoleKey,
      jwtSecret: "",
    };
    const { client } = connect(target, target.serviceRoleKey);
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      const result = await client.rpc("health_check");
      expect(performance.now() - started).toBeLessThan(2000);
      expect(result.status).toBe(503);
      expect(result.data).toBeNull();
      expect(result.error?.code).toMatch(/^PGRST00[0-3]$/);
    }
    // a plain GET too (supabase-js would retry a 503 GET; raw fetch shows the single answer)
    const started = performance.now();
    const get = await rawRequest(target, "conformance_items?select=id", {
      headers: { apikey: target.anonKey },
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(get.status).toBe(503);
    expect(await get.json()).toMatchObject({ code: expect.stringMatching(/^PGRST00[0-3]$/) });
  });
});
