import { randomBytes } from "node:crypto";
import postgres from "postgres";
import type { TestProject } from "vitest/node";
import { migrate } from "../../infra/local/db/migrate";
import { createPostgresDatabase } from "../../infra/local/db/postgres-database";
import {
  canConnect,
  REQUIRE_SERVICES,
  TEST_POSTGRES_ADMIN_URL,
  TEST_REDIS_URL,
  withDatabase,
} from "./services";

declare module "vitest" {
  export interface ProvidedContext {
    /** URL of this run's own migrated database, or "" when Postgres is not reachable. */
    databaseUrl: string;
    /** Admin URL on the same server, for suites that need a scratch database of their own. */
    postgresAdminUrl: string;
    /** Redis URL, or "" when Redis is not reachable. */
    redisUrl: string;
    /** Key prefix that keeps this run's Redis keys apart from any other run's. */
    redisPrefix: string;
    /** Unique id of this test run. */
    runId: string;
  }
}

/**
 * One database per test run, created here and dropped at the end, so runs never see each other's
 * data; one Redis key prefix per run for the same reason.
 */
export default async function setup(project: TestProject) {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const pgUp = await canConnect(TEST_POSTGRES_ADMIN_URL);
  const redisUp = await canConnect(TEST_REDIS_URL);
  const missing = [
    !pgUp && `PostgreSQL (${TEST_POSTGRES_ADMIN_URL})`,
    !redisUp && `Redis (${TEST_REDIS_URL})`,
  ]
    .filter(Boolean)
    .join(" and ");
  if (missing) {
    if (REQUIRE_SERVICES) throw new Error(`CANDOR_REQUIRE_SERVICES=1 but ${missing} is not reachable`);
    console.warn(`[candor tests] ${missing} not reachable: the tests that need it are skipped`);
  }

  const dbName = `candor_test_${runId}`;
  let databaseUrl = "";
  if (pgUp) {
    const admin = postgres(TEST_POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${dbName}`);
    await admin.end();
    databaseUrl = withDatabase(TEST_POSTGRES_ADMIN_URL, dbName);
    const db = createPostgresDatabase({ url: databaseUrl, max: 1 });
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
  }

  project.provide("databaseUrl", databaseUrl);
  project.provide("postgresAdminUrl", pgUp ? TEST_POSTGRES_ADMIN_URL : "");
  project.provide("redisUrl", redisUp ? TEST_REDIS_URL : "");
  project.provide("redisPrefix", `candor-test:${runId}:`);
  project.provide("runId", runId);

  return async () => {
    if (pgUp) {
      const admin = postgres(TEST_POSTGRES_ADMIN_URL, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
    if (redisUp) {
      const { default: Redis } = await import("ioredis");
      const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `candor-test:${runId}:*`, "COUNT", 1000);
          cursor = next;
          if (keys.length) await redis.del(...keys);
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    }
  };
}
