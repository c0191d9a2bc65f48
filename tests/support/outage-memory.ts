/**
 * Heap growth of the Redis side of the request path during an outage, in a process of its own so
 * that `--expose-gc` and the heap belong to Candor's code alone:
 *
 *   node --expose-gc --import tsx tests/support/outage-memory.ts
 *
 * Environment: UPSTASH_REDIS_REST_URL/TOKEN of an endpoint whose Redis is down (the test cuts its
 * link), REDIS_KEY_PREFIX, REQUESTS (default 20000), NETWORK_REQUESTS (default 3000).
 *
 * Phase 1, the deployed configuration: the Core from createCore (breaker shared by the limiter and
 * both caches, REDIS_BREAKER_OPEN_MS 100 so it probes every 100 ms). Each "request" does what the
 * handlers do with Redis: auth cache read (and write on the miss), the limiter with requests per
 * tenant and per key and tokens per tenant, a conversation cache read. Every request uses a
 * different API key, tenant (of 1,000) and limit (of 300, beyond the limiter LRU's 256), so any
 * per-key, per-tenant or per-limit accumulation would show.
 * Phase 2, the worst case for memory: the same adapters behind a breaker that never opens, so every
 * call goes to the failing endpoint (fetch, AbortSignal.timeout, error objects).
 *
 * Sends one JSON result over IPC.
 */
import { createHash } from "node:crypto";
import {
  CircuitBreaker,
  createCore,
  DependencyStatus,
  loadConfig,
  type Metrics,
  UpstashCache,
  UpstashRateLimiter,
} from "@candor/core";
import { createUpstashClient } from "../../packages/core/src/adapters/upstash/upstash-client";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const send = (message: unknown) => {
  if (!process.send) throw new Error("run with an IPC channel");
  process.send(message);
};

const url = process.env.UPSTASH_REDIS_REST_URL as string;
const token = process.env.UPSTASH_REDIS_REST_TOKEN as string;
const prefix = process.env.REDIS_KEY_PREFIX as string;
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const NETWORK_REQUESTS = Number(process.env.NETWORK_REQUESTS ?? 3_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
async function settledHeap(): Promise<number> {
  // let the last AbortSignal.timeout timers (150 ms) fire and their fetches settle
  await sleep(400);
  for (let i = 0; i < 4; i++) {
    gc?.();
    await sleep(20);
  }
  return process.memoryUsage().heapUsed;
}

interface Adapters {
  authCache: UpstashCache | { get: UpstashCache["get"]; set: UpstashCache["set"] };
  conversationCache: { get: UpstashCache["get"] };
  rateLimiter: { check: UpstashRateLimiter["check"] };
  metrics: Metrics;
}

async function drive(a: Adapters, n: number, offset: number) {
  const reasons: Record<string, number> = {};
  for (let i = offset; i < offset + n; i++) {
    const hash = createHash("sha256").update(`key-${i}`).digest("hex");
    const tenantId = `tenant-${i % 1_000}`;
    const cached = await a.authCache.get(`key:${hash}`);
    if (cached.status !== "hit") {
      const principal = {
        keyId: `k${i}`,
        tenantId,
        scopes: ["conversations:read"],
        prefix: "cnd_",
        requestsPerMinute: 100,
        tokensPerMinute: 10_000,
      };
      await a.authCache.set(`key:${hash}`, principal, 60);
    }
    const decision = await a.rateLimiter.check({
      tenantId,
      keyId: `k${i}`,
      requestsPerMinute: 100 + (i % 300),
      keyRequestsPerMinute: 50,
      tokensPerMinute: 10_000,
      tokens: 50,
    });
    if (!decision.allowed)
      throw new Error("a request was refused during the outage: the limiter must fail open");
    const reason = decision.reason ?? decision.mode;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
    await a.conversationCache.get(`t:${tenantId}:conv:${i}`);
    a.metrics.flush();
  }
  return reasons;
}

// Phase 1: the Core as deployed
const core = createCore(
  loadConfig({
    SUPABASE_URL: "http://127.0.0.1:9",
    SUPABASE_SERVICE_ROLE_KEY: "unused: no database call is made here",
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: token,
    REDIS_KEY_PREFIX: prefix,
    REDIS_BREAKER_OPEN_MS: "100",
    LOG_LEVEL: "SILENT",
  }),
  { serviceName: "candor-outage-memory" },
);
const coreAdapters = { ...core, rateLimiter: core.rateLimiter, metrics: core.metrics };
await drive(coreAdapters, 2_000, 0); // warm: code paths compiled, LRU filled, breaker open
const before1 = await settledHeap();
const bypassBefore = core.metrics.totals().rate_limit_bypass_count ?? 0;
const started1 = performance.now();
const reasons1 = await drive(coreAdapters, REQUESTS, 2_000);
const elapsed1 = performance.now() - started1;
const bypassed1 = (core.metrics.totals().rate_limit_bypass_count ?? 0) - bypassBefore;
const after1 = await settledHeap();

// Phase 2: every call on the network, none refused by a breaker
const metrics = core.metrics;
const neverOpens = new CircuitBreaker({
  failureThreshold: 1_000_000,
  window: 1_000_000,
  openMs: 60_000,
  status: new DependencyStatus(
    "redis",
    "redis_connection_status",
    { debug() {}, info() {}, warn() {}, error() {} },
    metrics,
  ),
});
const base = { url, token, timeoutMs: 150 };
const cacheRedis = createUpstashClient({ ...base, retries: 1, automaticDeserialization: false });
const network: Adapters = {
  authCache: new UpstashCache({
    redis: cacheRedis,
    breaker: neverOpens,
    metrics,
    prefix: `${prefix}auth:v1:`,
  }),
  conversationCache: new UpstashCache({
    redis: cacheRedis,
    breaker: neverOpens,
    metrics,
    prefix: `${prefix}conv:v1:`,
  }),
  rateLimiter: new UpstashRateLimiter({
    redis: createUpstashClient({ ...base, retries: 0, automaticDeserialization: true }),
    breaker: neverOpens,
    metrics,
    prefix: `${prefix}rl`,
    timeoutMs: 150,
  }),
  metrics,
};
await drive(network, 300, 0);
const before2 = await settledHeap();
const started2 = performance.now();
const reasons2 = await drive(network, NETWORK_REQUESTS, 300);
const elapsed2 = performance.now() - started2;
const after2 = await settledHeap();

send({
  core: {
    requests: REQUESTS,
    reasons: reasons1,
    bypassed: bypassed1,
    heapBefore: before1,
    heapAfter: after1,
    elapsedMs: elapsed1,
  },
  network: {
    requests: NETWORK_REQUESTS,
    reasons: reasons2,
    heapBefore: before2,
    heapAfter: after2,
    elapsedMs: elapsed2,
  },
  breaker: core.breaker?.state,
});
process.disconnect?.();
