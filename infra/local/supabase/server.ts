import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SqlDatabase, SqlSession } from "../db/sql-database";
import { GatewayError, isConnectionFailure, isSessionLost, PgrstError, toPgrstError } from "./errors";
import { createLocalSupabaseKeys, type JwtClaims, verifySupabaseJwt } from "./jwt";
import { parseQueryParams, type QueryParams } from "./query-params";
import { assertRelation, findRoutine, loadSchemaCache, type SchemaCache } from "./schema-cache";
import { type BuiltQuery, buildRpcQuery, buildTableQuery, quoteIdent } from "./sql-builder";

export interface LocalSupabaseOptions {
  /** For real PostgreSQL, connected as `authenticator`; PGlite runs as a superuser, same code path. */
  db: SqlDatabase;
  /** The JWT secret: the API keys are signed with it and every bearer token is verified against it. */
  jwtSecret: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** PostgREST `db-schemas`; the first is the default profile. */
  exposedSchemas?: string[];
  /** PostgREST `db-max-rows` (Supabase: 1000): every set-returning result is capped to this. */
  maxRows?: number;
  /** PostgREST `db-extra-search-path` (Supabase: public, extensions). */
  extraSearchPath?: string[];
}

export interface LocalSupabase {
  /** Base URL for `createClient(url, key)`. */
  url: string;
  anonKey: string;
  serviceRoleKey: string;
  /** Re-reads the function and table catalog (PostgREST: `NOTIFY pgrst, 'reload schema'`). */
  reloadSchema(): Promise<void>;
  /** Stops serving. The database belongs to the caller and stays open. */
  close(): Promise<void>;
}

const ANON_ROLE = "anon";
// bounded: a request body is held in memory whole before it is sent to the database as one parameter
const MAX_BODY_BYTES = 10 * 1024 * 1024;
const JSON_TYPE = "application/json; charset=utf-8";
const OBJECT_TYPE = "application/vnd.pgrst.object+json; charset=utf-8";

interface Auth {
  role: string;
  claims: JwtClaims;
}

interface Prefer {
  count: boolean;
  rollback: boolean;
}

type ResultRow = {
  total_result_set: string | null;
  page_total: string;
  body: string | null;
  response_headers: string | null;
  response_status: string | null;
};

/** Thrown out of a transaction callback to roll it back while still answering with `value`. */
class Rollback {
  constructor(readonly value: ResultRow | PgrstError) {}
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function authenticate(req: IncomingMessage, secret: string): Auth {
  const authorization = header(req, "authorization");
  const token = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1] : undefined;
  if (!token) return { role: ANON_ROLE, claims: { role: ANON_ROLE } };
  const verified = verifySupabaseJwt(secret, token);
  if (!verified.ok) {
    throw new PgrstError(
      401,
      { code: "PGRST301", message: verified.reason },
      {
        headers: {
          "WWW-Authenticate": `Bearer error="invalid_token", error_description="${verified.reason}"`,
        },
      },
    );
  }
  const role = typeof verified.claims.role === "string" ? verified.claims.role : ANON_ROLE;
  return { role, claims: { ...verified.claims, role } };
}

function parsePrefer(req: IncomingMessage): Prefer {
  const tokens = (header(req, "prefer") ?? "").split(",").map((t) => t.trim().toLowerCase());
  return {
    count: tokens.some((t) => t === "count=exact" || t === "count=planned" || t === "count=estimated"),
    rollback: tokens.includes("tx=rollback"),
  };
}

/** True for `application/vnd.pgrst.object+json`; 406 PGRST107 for a media type this endpoint cannot produce. */
function wantsSingleObject(req: IncomingMessage): boolean {
  const accept = header(req, "accept");
  if (!accept) return false;
  const types = accept.split(",").map((t) => (t.split(";")[0] ?? "").trim().toLowerCase());
  if (types.some((t) => t === "application/vnd.pgrst.object+json" || t === "application/vnd.pgrst.object")) {
    return true;
  }
  if (types.some((t) => t === "application/json" || t === "application/*" || t === "*/*" || t === ""))
    return false;
  throw new PgrstError(406, {
    code: "PGRST107",
    message: `None of these media types are available: ${types.join(", ")}`,
  });
}

function requestSchema(req: IncomingMessage, isRead: boolean, exposed: readonly string[]): string {
  const profile = header(req, isRead ? "accept-profile" : "content-profile");
  const fallback = exposed[0] ?? "public";
  if (profile === undefined) return fallback;
  if (exposed.includes(profile)) return profile;
  throw new PgrstError(406, {
    code: "PGRST106",
    message: `The schema must be one of the following: ${exposed.join(", ")}`,
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new GatewayError(413, "Request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseCookies(raw: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (raw ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) cookies[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return cookies;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `response.headers` GUC: a JSON array of one-key objects with string values (PostgREST GucHeader.hs). */
function gucHeaders(raw: string | null): Record<string, string> {
  if (raw === null) return {};
  const fail = () =>
    new PgrstError(500, {
      code: "PGRST111",
      message:
        "response.headers guc must be a JSON array composed of objects with a single key and a string value",
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw fail();
  }
  if (!Array.isArray(parsed)) throw fail();
  const headers: Record<string, string> = {};
  for (const item of parsed) {
    const entries = isPlainObject(item) ? Object.entries(item) : [];
    const [entry] = entries;
    if (entries.length !== 1 || !entry || typeof entry[1] !== "string") throw fail();
    headers[entry[0]] = entry[1];
  }
  return headers;
}

function gucStatus(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const status = Number(raw);
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new PgrstError(500, {
      code: "PGRST112",
      message: "response.status guc must be a valid status code",
    });
  }
  return status;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new PgrstError(400, { code: "PGRST100", message: `Invalid path segment: ${segment}` });
  }
}

function statusTextSafe(text: string | undefined): string | undefined {
  // Node refuses control characters in the reason phrase
  return text?.replace(/[^\x20-\x7e]/g, " ");
}

interface Plan {
  schema: string;
  query: BuiltQuery;
  readOnly: boolean;
  single: boolean;
  isVoid: boolean;
  path: string;
  offset: number;
}

export async function startLocalSupabase(options: LocalSupabaseOptions): Promise<LocalSupabase> {
  const { db, jwtSecret } = options;
  const exposed = options.exposedSchemas?.length ? options.exposedSchemas : ["public"];
  const maxRows = options.maxRows ?? 1000;
  const extraSearchPath = options.extraSearchPath ?? ["public", "extensions"];
  const keys = createLocalSupabaseKeys(jwtSecret);

  let cache: SchemaCache | undefined;
  let stale = false;
  let loading: Promise<SchemaCache> | undefined;

  const load = (): Promise<SchemaCache> => {
    const next = (loading ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => loadSchemaCache(db, exposed))
      .then((c) => {
        cache = c;
        stale = false;
        return c;
      });
    loading = next;
    void next
      .finally(() => {
        if (loading === next) loading = undefined;
      })
      .catch(() => undefined);
    return next;
  };

  const schemaCache = async (): Promise<SchemaCache> => {
    if (cache && !stale) return cache;
    try {
      return await (loading ?? load());
    } catch (error) {
      if (!isConnectionFailure(error) && toPgrstError(error, false).status !== 503) throw error;
      // PostgREST answers PGRST002 until it can read the schema cache again
      throw new PgrstError(
        503,
        {
          code: "PGRST002",
          message: "Could not query the database for the schema cache. Retrying.",
          details: error instanceof Error ? error.message : String(error),
        },
        { cause: error },
      );
    }
  };

  const runPlan = async (
    plan: Plan,
    auth: Auth,
    req: IncomingMessage,
    prefer: Prefer,
  ): Promise<ResultRow> => {
    const searchPath = [...new Set([plan.schema, ...extraSearchPath])].map(quoteIdent).join(", ");
    const requestHeaders: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) requestHeaders[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    let sessionLost: (error: unknown) => void = () => {};
    const lost = new Promise<never>((_, reject) => {
      sessionLost = reject;
    });
    const work = async (tx: SqlSession): Promise<ResultRow> => {
      try {
        return await statements(tx);
      } catch (error) {
        if (!isSessionLost(error)) throw error;
        // The session is gone. Settling this callback would make postgres.js write ROLLBACK on the dead
        // socket from a setImmediate, an uncatchable TypeError that kills the process
        // (porsager/postgres#1208, 3.4.10). Leave it pending (the driver rejects begin() itself when the
        // connection closes) and answer from here.
        sessionLost(error);
        return new Promise<never>(() => {});
      }
    };
    const statements = async (tx: SqlSession): Promise<ResultRow> => {
      // PostgREST setPgLocals: one SELECT, every setting transaction-local
      await tx.query(
        `select set_config('search_path', $1, true), set_config('role', $2, true),
                set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
                set_config('request.path', $5, true), set_config('request.headers', $6, true),
                set_config('request.cookies', $7, true)`,
        [
          searchPath,
          auth.role,
          JSON.stringify(auth.claims),
          req.method ?? "GET",
          plan.path,
          JSON.stringify(requestHeaders),
          JSON.stringify(parseCookies(header(req, "cookie"))),
        ],
      );
      const rows = await tx.query<ResultRow>(plan.query.text, plan.query.params);
      const row = rows[0];
      if (!row) throw new Error("the response query returned no row");
      const pageTotal = Number(row.page_total);
      if (plan.single && pageTotal !== 1) {
        // PostgREST failNotSingular: the transaction is rolled back, writes included
        throw new Rollback(
          new PgrstError(406, {
            code: "PGRST116",
            message: "Cannot coerce the result to a single JSON object",
            details: `The result contains ${pageTotal} rows`,
          }),
        );
      }
      if (prefer.rollback) throw new Rollback(row);
      return row;
    };
    const transaction = db.transaction(work, { readOnly: plan.readOnly });
    transaction.catch(() => undefined); // after a lost session the race below has already answered
    try {
      return await Promise.race([transaction, lost]);
    } catch (error) {
      if (error instanceof Rollback) {
        if (error.value instanceof PgrstError) throw error.value;
        return error.value;
      }
      throw error;
    }
  };

  const planRpc = async (
    req: IncomingMessage,
    url: URL,
    name: string,
    method: string,
    prefer: Prefer,
  ): Promise<Plan> => {
    if (method !== "GET" && method !== "HEAD" && method !== "POST") {
      throw new PgrstError(405, { code: "PGRST101", message: `Cannot use the ${method} method on RPC` });
    }
    const isRead = method !== "POST";
    const schema = requestSchema(req, isRead, exposed);
    const single = wantsSingleObject(req);
    const query: QueryParams = parseQueryParams(url.searchParams, true);
    let payload: string;
    let argumentKeys: Set<string>;
    let bodyIsObject = true;
    if (isRead) {
      argumentKeys = new Set(query.args.keys());
      payload = JSON.stringify(Object.fromEntries(query.args));
    } else {
      const raw = await readBody(req);
      payload = raw.trim() === "" ? "{}" : raw;
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload);
      } catch (error) {
        throw new PgrstError(400, {
          code: "PGRST102",
          message: "Empty or invalid json",
          details: error instanceof Error ? error.message : null,
        });
      }
      bodyIsObject = isPlainObject(parsed);
      argumentKeys = new Set(bodyIsObject ? Object.keys(parsed as object) : []);
    }
    const call = findRoutine(await schemaCache(), {
      schema,
      name,
      argumentKeys,
      isPost: !isRead,
    });
    if (call.mode === "named" && !bodyIsObject) {
      throw new PgrstError(400, {
        code: "PGRST102",
        message: "Invalid body: the arguments of a function call must be a JSON object",
      });
    }
    const plan: Plan = {
      schema,
      query: buildRpcQuery(call, payload, argumentKeys, { query, count: prefer.count, single, maxRows }),
      // PostgREST: READ ONLY for GET/HEAD and for STABLE/IMMUTABLE functions
      readOnly: isRead || call.routine.volatility !== "v",
      single,
      isVoid: call.routine.returnType === "void",
      path: `/rpc/${name}`,
      offset: query.offset,
    };
    return plan;
  };

  const planTable = async (req: IncomingMessage, url: URL, table: string, method: string, prefer: Prefer) => {
    if (method !== "GET" && method !== "HEAD") {
      throw new PgrstError(501, {
        code: "PGRST127",
        message: "Feature not implemented",
        details: `${method} on a table: the local Supabase endpoint serves table reads only; write through an RPC`,
      });
    }
    const schema = requestSchema(req, true, exposed);
    const single = wantsSingleObject(req);
    const query = parseQueryParams(url.searchParams, false);
    assertRelation(await schemaCache(), schema, table);
    const plan: Plan = {
      schema,
      query: buildTableQuery(schema, table, { query, count: prefer.count, single, maxRows }),
      readOnly: true,
      single,
      isVoid: false,
      path: `/${table}`,
      offset: query.offset,
    };
    return plan;
  };

  const cors = { "Access-Control-Allow-Origin": "*" };

  const sendError = (res: ServerResponse, method: string, error: PgrstError | GatewayError) => {
    if (error instanceof GatewayError) {
      const body = JSON.stringify({ message: error.message });
      res.writeHead(error.status, { ...cors, "Content-Type": JSON_TYPE });
      res.end(method === "HEAD" ? undefined : body);
      return;
    }
    const headers: Record<string, string> = {
      ...cors,
      "Content-Type": JSON_TYPE,
      "Proxy-Status": `PostgREST; error=${error.body.code}`,
      ...error.headers,
    };
    const statusText = statusTextSafe(error.statusText);
    if (statusText) res.writeHead(error.status, statusText, headers);
    else res.writeHead(error.status, headers);
    res.end(method === "HEAD" ? undefined : JSON.stringify(error.body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://localhost");
    let auth: Auth | undefined;
    try {
      if (method === "OPTIONS") {
        // Kong's cors plugin answers preflights before key-auth
        res.writeHead(200, {
          ...cors,
          "Access-Control-Allow-Methods": "GET,HEAD,POST,OPTIONS",
          "Access-Control-Allow-Headers": header(req, "access-control-request-headers") ?? "*",
          "Access-Control-Max-Age": "3600",
        });
        res.end();
        return;
      }
      const match = /^\/rest\/v1\/(?:rpc\/([^/]+)|([^/]+))\/?$/.exec(url.pathname);
      if (!match) throw new GatewayError(404, "no Route matched with those values");
      // Supabase's gateway (Kong key-auth) before PostgREST
      const apikey = header(req, "apikey");
      if (!apikey) throw new GatewayError(401, "No API key found in request");
      if (!verifySupabaseJwt(jwtSecret, apikey, { checkTimes: false }).ok) {
        throw new GatewayError(401, "Invalid API key");
      }
      auth = authenticate(req, jwtSecret);
      const prefer = parsePrefer(req);
      const plan = match[1]
        ? await planRpc(req, url, decodePathSegment(match[1]), method, prefer)
        : await planTable(req, url, decodePathSegment(match[2] ?? ""), method, prefer);
      const row = await runPlan(plan, auth, req, prefer);

      const total = row.total_result_set === null ? undefined : Number(row.total_result_set);
      const pageTotal = Number(row.page_total);
      const lower = plan.offset;
      if (total !== undefined && lower > total) {
        throw new PgrstError(416, {
          code: "PGRST103",
          message: "Requested range not satisfiable",
          details: `An offset of ${lower} was requested, but there are only ${total} rows.`,
        });
      }
      const range = pageTotal > 0 ? `${lower}-${lower + pageTotal - 1}` : "*";
      const headers: Record<string, string> = {
        ...cors,
        "Content-Type": plan.single ? OBJECT_TYPE : JSON_TYPE,
        "Content-Range": `${range}/${total ?? "*"}`,
      };
      if (prefer.rollback) headers["Preference-Applied"] = "tx=rollback";
      Object.assign(headers, gucHeaders(row.response_headers));
      let status = plan.isVoid ? 204 : total !== undefined && pageTotal < total ? 206 : 200;
      status = gucStatus(row.response_status) ?? status;
      const noBody = method === "HEAD" || status === 204 || status === 304;
      if (noBody) delete headers["Content-Type"];
      res.writeHead(status, headers);
      res.end(noBody ? undefined : (row.body ?? "null"));
    } catch (error) {
      if (error instanceof GatewayError) {
        sendError(res, method, error);
        return;
      }
      if (isConnectionFailure(error)) stale = true; // re-read the catalog once the database is back
      sendError(res, method, toPgrstError(error, (auth?.role ?? ANON_ROLE) === ANON_ROLE));
    }
  };

  try {
    await load();
  } catch (error) {
    // a database that is down now may be up later: requests answer 503 until the catalog loads
    if (!isConnectionFailure(error)) throw error;
  }

  let unlisten: (() => Promise<void>) | undefined;
  try {
    unlisten = await db.listen("pgrst", (payload) => {
      if (payload === "" || payload === "reload schema") void load().catch(() => undefined);
    });
  } catch {
    // best effort: reloadSchema() is the contract, NOTIFY pgrst a convenience
  }

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "Content-Type": JSON_TYPE });
      res.end(
        JSON.stringify({ code: "PGRST000", details: String(error), hint: null, message: "Internal error" }),
      );
    });
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    anonKey: keys.anonKey,
    serviceRoleKey: keys.serviceRoleKey,
    async reloadSchema() {
      await load();
    },
    async close() {
      await unlisten?.().catch(() => undefined);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
