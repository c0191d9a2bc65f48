/**
 * The dependencies of the API under benchmark, in a process of their own so that the load
 * generator's event loop (the driver) measures without sharing a thread with them: the local
 * Supabase endpoint over the real Postgres (through a counting proxy: database round trips), the
 * local Upstash endpoint over the real Redis (through a TCP link that can be cut or hung; its
 * `onRequest` counts Redis round trips) and the fake model server. The same wiring as
 * tests/support/api-harness.ts, without vitest.
 *
 *   node --import tsx tests/bench/support/services-child.ts   (started by the bench driver, with IPC)
 *
 * Environment: BENCH_DATABASE_URL (a migrated database), BENCH_REDIS_URL.
 */
import { randomBytes } from "node:crypto";
import { createPostgresDatabase } from "../../../infra/local/db/postgres-database";
import { startFakeProvider } from "../../../infra/local/fake-provider";
import { startLocalSupabase } from "../../../infra/local/supabase";
import { startLocalUpstash } from "../../../infra/local/upstash";
import { startCountingProxy } from "../../support/http-counter";
import { startTcpProxy } from "../../support/tcp-proxy";
import { serveIpc } from "./ipc";

export interface ServicesReady {
  /** The counting proxy in front of the Supabase endpoint: what the API is configured with. */
  supabaseUrl: string;
  /** The Supabase endpoint itself, for seeding (not counted). */
  supabaseDirectUrl: string;
  serviceRoleKey: string;
  upstashUrl: string;
  upstashToken: string;
  openaiBaseUrl: string;
}

export interface ServicesCounts {
  db: number;
  dbByRoute: Record<string, number>;
  redis: number;
  redisByCommand: Record<string, number>;
  providerRequests: number;
}

export type RedisLinkMode = "pass" | "cut" | "hang";

const databaseUrl = process.env.BENCH_DATABASE_URL;
const redisUrl = process.env.BENCH_REDIS_URL;
if (!databaseUrl || !redisUrl) throw new Error("BENCH_DATABASE_URL and BENCH_REDIS_URL are required");

const endpointDb = createPostgresDatabase({ url: databaseUrl, user: "authenticator", max: 10 });
const supabase = await startLocalSupabase({
  db: endpointDb,
  jwtSecret: randomBytes(32).toString("hex"),
  port: 0,
});
const supabaseCounter = await startCountingProxy(supabase.url);

const redis = new URL(redisUrl);
const redisLink = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
const proxiedRedis = new URL(redisUrl);
proxiedRedis.port = String(redisLink.port);
let redisRequests = 0;
let redisByCommand: Record<string, number> = {};
const upstashToken = randomBytes(16).toString("hex");
const upstash = await startLocalUpstash({
  redisUrl: proxiedRedis.toString(),
  token: upstashToken,
  port: 0,
  onRequest: (entry) => {
    redisRequests++;
    for (const command of entry.commands) {
      const name = command[0] ?? "?";
      redisByCommand[name] = (redisByCommand[name] ?? 0) + 1;
    }
  },
});
const fake = await startFakeProvider();
let providerBase = fake.requests;
let linkMode: RedisLinkMode = "pass";

serveIpc(
  {
    counts: (): ServicesCounts => ({
      db: supabaseCounter.total(),
      dbByRoute: Object.fromEntries(supabaseCounter.counts),
      redis: redisRequests,
      redisByCommand: { ...redisByCommand },
      providerRequests: fake.requests - providerBase,
    }),
    reset: () => {
      supabaseCounter.reset();
      redisRequests = 0;
      redisByCommand = {};
      providerBase = fake.requests;
      return true;
    },
    redisLink: async (mode: unknown) => {
      const next = mode as RedisLinkMode;
      if (next === linkMode) return linkMode;
      if (linkMode === "cut") await redisLink.restore();
      if (next === "cut") await redisLink.cut();
      else redisLink.setMode(next === "hang" ? { kind: "hang" } : { kind: "pass" });
      linkMode = next;
      return linkMode;
    },
  },
  {
    supabaseUrl: supabaseCounter.url,
    supabaseDirectUrl: supabase.url,
    serviceRoleKey: supabase.serviceRoleKey,
    upstashUrl: upstash.url,
    upstashToken,
    openaiBaseUrl: fake.openaiBaseUrl,
  } satisfies ServicesReady,
);
