/**
 * The benchmark's environment, built once per `npm run bench`: a scratch database on the real
 * Postgres (`candor_bench_<run>`, migrated, dropped at the end), a Redis key prefix of its own
 * (its keys deleted at the end; never FLUSHALL), the services child (Supabase and Upstash
 * endpoints, fake provider), the seed (model price, tenants with a policy), and API children
 * started with the environment a benchmark asks for.
 */
import { randomBytes } from "node:crypto";
import { API_KEY_SCOPES, createCore, loadConfig } from "@candor/core";
import postgres from "postgres";
import { migrate } from "../../../infra/local/db/migrate";
import { createPostgresDatabase } from "../../../infra/local/db/postgres-database";
import type { SqlDatabase } from "../../../infra/local/db/sql-database";
import { canConnect, TEST_POSTGRES_ADMIN_URL, TEST_REDIS_URL, withDatabase } from "../../support/services";
import { type ApiChild, type Child, startApi, startServices } from "./children";
import type { IpcClient } from "./ipc";
import type { RedisLinkMode, ServicesCounts, ServicesReady } from "./services-child";

export const MODEL = "candor-fake-1";
/** USD per million tokens, input and output: the price every benchmark turn is billed at. */
export const PRICE = { input: "1", output: "2" };

export interface BenchTenant {
  tenantId: string;
  key: string;
}

export interface BenchStack {
  runId: string;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  streamTokenSecret: string;
  services: Child & { ready: ServicesReady; ipc: IpcClient };
  /** A superuser connection to the scratch database, for seeding. */
  db: SqlDatabase;
  counts(): Promise<ServicesCounts>;
  resetCounts(): Promise<void>;
  setRedisLink(mode: RedisLinkMode): Promise<void>;
  /** Starts an API child; `label` keeps its Redis keys apart from other children's. */
  startApi(label: string, env?: Record<string, string>): Promise<ApiChild>;
  createTenant(policy?: Record<string, unknown>): Promise<BenchTenant>;
  close(): Promise<void>;
}

export async function startBenchStack(): Promise<BenchStack> {
  const missing = [
    !(await canConnect(TEST_POSTGRES_ADMIN_URL)) && `PostgreSQL (${TEST_POSTGRES_ADMIN_URL})`,
    !(await canConnect(TEST_REDIS_URL)) && `Redis (${TEST_REDIS_URL})`,
  ].filter(Boolean);
  if (missing.length) throw new Error(`the benchmarks need ${missing.join(" and ")}`);

  const runId = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const dbName = `candor_bench_${runId}`;
  const redisPrefix = `candor-bench:${runId}:`;
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const fn of closers.reverse()) await fn().catch(() => {});
    closers.length = 0;
  };

  try {
    const pgAdmin = postgres(TEST_POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} });
    await pgAdmin.unsafe(`create database ${dbName}`);
    await pgAdmin.end();
    closers.push(async () => {
      const a = postgres(TEST_POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${dbName} with (force)`);
      await a.end();
    });
    closers.push(() => deleteRedisKeys(TEST_REDIS_URL, redisPrefix));
    const databaseUrl = withDatabase(TEST_POSTGRES_ADMIN_URL, dbName);
    const db = createPostgresDatabase({ url: databaseUrl, max: 2 });
    closers.push(() => db.close());
    await migrate(db);

    const services = await startServices({
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_REDIS_URL: TEST_REDIS_URL,
    });
    closers.push(() => services.stop());
    const { ready } = services;

    // seeding goes straight to the Supabase endpoint, so it is not counted as the API's round trips
    const admin = createCore(
      loadConfig({
        SUPABASE_URL: ready.supabaseDirectUrl,
        SUPABASE_SERVICE_ROLE_KEY: ready.serviceRoleKey,
        LOG_LEVEL: "SILENT",
      }),
      { serviceName: "candor-bench-admin" },
    ).admin;
    await db.query("select public.set_model_price('openai', $1, $2, $3, null, now() - interval '1 day')", [
      MODEL,
      PRICE.input,
      PRICE.output,
    ]);

    const streamTokenSecret = randomBytes(32).toString("hex");
    const apis: ApiChild[] = [];
    closers.push(async () => {
      for (const a of apis) await a.stop();
    });

    return {
      runId,
      databaseUrl,
      redisUrl: TEST_REDIS_URL,
      redisPrefix,
      streamTokenSecret,
      services,
      db,
      counts: () => services.ipc.call<ServicesCounts>("counts"),
      resetCounts: async () => {
        await services.ipc.call("reset");
      },
      setRedisLink: async (mode) => {
        await services.ipc.call("redisLink", mode);
      },
      async startApi(label, env = {}) {
        const api = await startApi({
          CANDOR_STAGE: "bench",
          SUPABASE_URL: ready.supabaseUrl,
          SUPABASE_SERVICE_ROLE_KEY: ready.serviceRoleKey,
          UPSTASH_REDIS_REST_URL: ready.upstashUrl,
          UPSTASH_REDIS_REST_TOKEN: ready.upstashToken,
          REDIS_KEY_PREFIX: `${redisPrefix}${label}:`,
          OPENAI_API_KEY: "bench-openai-key",
          OPENAI_BASE_URL: ready.openaiBaseUrl,
          STREAM_TOKEN_SECRET: streamTokenSecret,
          ...env,
        });
        apis.push(api);
        return api;
      },
      async createTenant(policy = {}) {
        const tenant = await admin.createTenant(`bench-${randomBytes(3).toString("hex")}`);
        const key = await admin.createApiKey(tenant.id, API_KEY_SCOPES, "bench");
        await db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [
          tenant.id,
          JSON.stringify({
            allowed_providers: ["openai"],
            allowed_models: [MODEL],
            default_model: MODEL,
            // the benchmark measures the limiter's cost, not its refusals
            requests_per_minute: 1_000_000,
            ...policy,
          }),
        ]);
        return { tenantId: tenant.id, key: key.key };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Deletes this run's keys only (SCAN by prefix, never FLUSHALL: the Redis is shared). */
async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const { default: Redis } = await import("ioredis");
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    // bounded: SCAN walks the keyspace once
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

export type { ApiChild };
