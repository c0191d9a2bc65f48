import { randomBytes } from "node:crypto";
import { API_KEY_SCOPES, type ApiKeyScope, type Core, createCore, loadConfig } from "@candor/core";
import { inject } from "vitest";
import { type LocalApi, startLocalApi } from "../../infra/local/api-gateway";
import { createPostgresDatabase } from "../../infra/local/db/postgres-database";
import type { SqlDatabase } from "../../infra/local/db/sql-database";
import { startLocalSupabase } from "../../infra/local/supabase";
import { startLocalUpstash } from "../../infra/local/upstash";
import { type CountingProxy, startCountingProxy } from "./http-counter";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy";

export interface TestApiOptions {
  /** Put the local Upstash endpoint (over the real Redis) in front of the API. */
  redis?: boolean;
  /** Extra environment for the handlers (ENABLE_* flags, timeouts). */
  env?: Record<string, string>;
}

export interface TestTenant {
  tenantId: string;
  key: string;
  keyId: string;
}

export interface TestApi {
  url: string;
  /** A superuser connection to this run's database, for seeding and assertions. */
  db: SqlDatabase;
  /** Counts every request the API makes to the Supabase endpoint (database round trips). */
  supabaseRequests: CountingProxy;
  /** Between the Supabase endpoint and Postgres: cut() makes Postgres unreachable. */
  postgresLink: TcpProxy;
  /** Between the Upstash endpoint and Redis (with `redis: true`): cut() makes Redis unreachable. */
  redisLink: TcpProxy | undefined;
  upstashUrl: string | undefined;
  /** The API's own composition root (the module the handlers use). */
  core(): Promise<Core>;
  createTenant(options?: { name?: string; scopes?: readonly ApiKeyScope[] }): Promise<TestTenant>;
  createKey(tenantId: string, scopes: readonly ApiKeyScope[]): Promise<{ key: string; keyId: string }>;
  fetch(path: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * The API as deployed, in this test process: the Lambda handlers behind the API Gateway adapter,
 * the real supabase-js talking to the local Supabase endpoint over the real Postgres of this run,
 * and (optionally) @upstash/redis talking to the local Upstash endpoint over the real Redis.
 * Handlers read process.env at their cold start, so one harness per test file.
 */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const databaseUrl = inject("databaseUrl");
  if (!databaseUrl) throw new Error("Postgres is not reachable");
  const stops: (() => Promise<unknown>)[] = [];
  const jwtSecret = randomBytes(32).toString("hex");

  const pgUrl = new URL(databaseUrl);
  const postgresLink = await startTcpProxy({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  stops.push(() => postgresLink.close());
  const proxied = new URL(databaseUrl);
  proxied.port = String(postgresLink.port);
  const endpointDb = createPostgresDatabase({ url: proxied.toString(), user: "authenticator", max: 10 });
  stops.push(() => endpointDb.close());
  const supabase = await startLocalSupabase({ db: endpointDb, jwtSecret, port: 0 });
  stops.push(() => supabase.close());
  const supabaseRequests = await startCountingProxy(supabase.url);
  stops.push(() => supabaseRequests.close());

  let redisLink: TcpProxy | undefined;
  let upstashUrl: string | undefined;
  const upstashToken = randomBytes(16).toString("hex");
  if (options.redis) {
    const redisUrl = new URL(inject("redisUrl"));
    redisLink = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    stops.push(() => redisLink?.close() ?? Promise.resolve());
    const proxiedRedis = new URL(redisUrl);
    proxiedRedis.port = String(redisLink.port);
    const upstash = await startLocalUpstash({
      redisUrl: proxiedRedis.toString(),
      token: upstashToken,
      port: 0,
    });
    stops.push(() => upstash.close());
    upstashUrl = upstash.url;
  }

  const env: Record<string, string> = {
    CANDOR_STAGE: "test",
    SUPABASE_URL: supabaseRequests.url,
    SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
    REDIS_KEY_PREFIX: `${inject("redisPrefix")}${randomBytes(3).toString("hex")}:`,
    LOG_LEVEL: "WARN",
    ...(upstashUrl ? { UPSTASH_REDIS_REST_URL: upstashUrl, UPSTASH_REDIS_REST_TOKEN: upstashToken } : {}),
    ...options.env,
  };
  for (const k of ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"]) delete process.env[k];
  Object.assign(process.env, env);

  const api: LocalApi = await startLocalApi({ port: 0 });
  stops.push(() => api.close());
  const db = createPostgresDatabase({ url: databaseUrl, max: 2 });
  stops.push(() => db.close());

  // seeding goes straight to the Supabase endpoint, so it is not counted as the API's round trips
  const admin = createCore(
    loadConfig({
      SUPABASE_URL: supabase.url,
      SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
      LOG_LEVEL: "SILENT",
    }),
    { serviceName: "candor-test-admin" },
  ).admin;

  const createKey = async (tenantId: string, scopes: readonly ApiKeyScope[]) => {
    const k = await admin.createApiKey(tenantId, scopes, "test");
    return { key: k.key, keyId: k.id };
  };

  return {
    url: api.url,
    db,
    supabaseRequests,
    postgresLink,
    redisLink,
    upstashUrl,
    core: async () => (await import("../../packages/functions/src/root")).core,
    async createTenant(o = {}) {
      const tenant = await admin.createTenant(o.name ?? `tenant-${randomBytes(3).toString("hex")}`);
      const { key, keyId } = await createKey(tenant.id, o.scopes ?? API_KEY_SCOPES);
      return { tenantId: tenant.id, key, keyId };
    },
    createKey,
    fetch(path, init = {}) {
      const { key, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key) headers.set("authorization", `Bearer ${key}`);
      if (json !== undefined) headers.set("content-type", "application/json");
      return fetch(`${api.url}${path}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    async stop() {
      for (const fn of stops.reverse()) await fn().catch(() => {});
    },
  };
}
