import type { SupabaseClient } from "@supabase/supabase-js";
import type { Redis } from "@upstash/redis";
import { createSupabaseServiceClient } from "../adapters/supabase/supabase-client";
import { SupabaseRpc } from "../adapters/supabase/supabase-rpc";
import { SupabaseAdmin } from "../adapters/supabase/supabase-admin";
import { SupabaseGraphStore } from "../adapters/supabase/supabase-graph-store";
import { SupabaseAuthStore, SupabaseHealthStore } from "../adapters/supabase/supabase-stores";
import { BpeTokenCounter } from "../adapters/tokenizer/bpe-token-counter";
import { authCacheKey, authenticate } from "../domain/auth/authenticate";
import { GraphService } from "../domain/graph/graph-service";
import type { ApiKeyPrincipal } from "../domain/ports/store.port";
import type { TokenCounter } from "../domain/ports/token-counter.port";
import { NoOpCache } from "../adapters/noop/noop-cache";
import { NoOpRateLimiter } from "../adapters/noop/noop-rate-limiter";
import { CircuitBreaker } from "../adapters/upstash/circuit-breaker";
import { createUpstashClient } from "../adapters/upstash/upstash-client";
import { UpstashCache } from "../adapters/upstash/upstash-cache";
import { UpstashRateLimiter } from "../adapters/upstash/upstash-rate-limiter";
import type { CandorConfig } from "../config/config";
import { getHealth, type Health, type RedisHealth } from "../domain/health/get-health";
import type { Cache } from "../domain/ports/cache.port";
import type { Metrics } from "../domain/ports/metrics.port";
import type { RateLimiter } from "../domain/ports/rate-limiter.port";
import type { AuthStore, HealthStore } from "../domain/ports/store.port";
import { DependencyStatus } from "../observability/dependency-status";
import { type CandorLogger, createLogger } from "../observability/powertools-logger";
import { createMetrics } from "../observability/powertools-metrics";

export interface Core {
  config: CandorConfig;
  log: CandorLogger;
  metrics: Metrics;
  supabase: SupabaseClient;
  rpc: SupabaseRpc;
  stores: { auth: AuthStore; health: HealthStore };
  rateLimiter: RateLimiter;
  authCache: Cache;
  conversationCache: Cache;
  breaker: CircuitBreaker | undefined;
  tokens: TokenCounter;
  graph: GraphService;
  admin: SupabaseAdmin;
  authenticate(authorization: string | undefined): Promise<ApiKeyPrincipal>;
  /** Revokes a key in the store, then deletes its auth cache entry so it stops working at once. */
  revokeApiKey(tenantId: string, keyId: string): Promise<{ id: string; prefix: string; revoked_at: string }>;
  health(): Promise<Health>;
}

export interface CreateCoreOptions {
  serviceName: string;
  /** Inject a fetch (tests count requests); defaults to the global fetch. */
  fetch?: typeof fetch;
}

export type AdapterChoice = "upstash" | "noop";

/** Which adapters this cold start uses, and why: decided once, from configuration only. */
export function chooseAdapters(config: CandorConfig): {
  rateLimiter: AdapterChoice;
  authCache: AdapterChoice;
  conversationCache: AdapterChoice;
  reason: string;
} {
  const has = config.upstash !== undefined;
  const pick = (enabled: boolean): AdapterChoice => (has && enabled ? "upstash" : "noop");
  return {
    rateLimiter: pick(config.features.rateLimiterRedis),
    authCache: pick(config.features.authValidationCache),
    conversationCache: pick(config.features.conversationCaching),
    reason: has ? "UPSTASH_REDIS_REST_URL set; ENABLE_* flags applied" : "UPSTASH_REDIS_REST_URL not set",
  };
}

/**
 * The composition root's work, once per cold start: clients and adapters are built here and
 * nowhere else. Nothing here touches the network.
 */
export function createCore(config: CandorConfig, options: CreateCoreOptions): Core {
  const log = createLogger({ serviceName: options.serviceName, stage: config.stage, level: config.logLevel });
  const metrics = createMetrics({ serviceName: options.serviceName, stage: config.stage });
  const supabaseStatus = new DependencyStatus("supabase", "supabase_connection_status", log, metrics);
  const redisStatus = new DependencyStatus("redis", "redis_connection_status", log, metrics);

  const supabase = createSupabaseServiceClient({
    url: config.supabase.url,
    serviceRoleKey: config.supabase.serviceRoleKey,
    timeoutMs: config.supabase.timeoutMs,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const rpc = new SupabaseRpc({ client: supabase, metrics, log, status: supabaseStatus });
  const stores = { auth: new SupabaseAuthStore(rpc), health: new SupabaseHealthStore(rpc) };

  const choice = chooseAdapters(config);
  let breaker: CircuitBreaker | undefined;
  let cacheRedis: Redis | undefined;
  let limiterRedis: Redis | undefined;
  if (config.upstash) {
    breaker = new CircuitBreaker({
      failureThreshold: config.redis.breakerFailureThreshold,
      openMs: config.redis.breakerOpenMs,
      status: redisStatus,
    });
    const base = { url: config.upstash.url, token: config.upstash.token, timeoutMs: config.redis.timeoutMs };
    cacheRedis = createUpstashClient({ ...base, automaticDeserialization: false });
    limiterRedis = createUpstashClient({ ...base, automaticDeserialization: true });
  }
  const prefix = config.redis.keyPrefix;
  const cache = (name: string, chosen: AdapterChoice): Cache =>
    chosen === "upstash" && cacheRedis && breaker
      ? new UpstashCache({ redis: cacheRedis, breaker, metrics, prefix: `${prefix}${name}:v1:`, name })
      : new NoOpCache();
  const rateLimiter: RateLimiter =
    choice.rateLimiter === "upstash" && limiterRedis && breaker
      ? new UpstashRateLimiter({
          redis: limiterRedis,
          breaker,
          metrics,
          prefix: `${prefix}rl`,
          timeoutMs: config.redis.timeoutMs,
        })
      : new NoOpRateLimiter();
  const authCache = cache("auth", choice.authCache);
  const conversationCache = cache("conv", choice.conversationCache);

  log.info("adapters selected", {
    rate_limiter: rateLimiter.type,
    auth_cache: authCache.type,
    conversation_cache: conversationCache.type,
    reason: choice.reason,
  });
  metrics.gauge("rate_limiter_type", 1, "Count", { type: rateLimiter.type });
  metrics.gauge("cache_type", 1, "Count", { type: authCache.type, cache: "auth" });
  metrics.gauge("cache_type", 1, "Count", { type: conversationCache.type, cache: "conversation" });

  const redisHealth = async (): Promise<RedisHealth> => {
    if (!cacheRedis || !breaker) return "noop";
    const redis = cacheRedis;
    try {
      await breaker.run(() => redis.ping());
      return "upstash";
    } catch {
      return "down";
    }
  };

  const tokens = new BpeTokenCounter();
  const graph = new GraphService({
    store: new SupabaseGraphStore(rpc),
    cache: conversationCache,
    cacheTtlSeconds: config.cache.conversationTtlSeconds,
    tokens,
  });
  const admin = new SupabaseAdmin(rpc);
  const authDeps = { store: stores.auth, cache: authCache, metrics, ttlSeconds: config.cache.authTtlSeconds };

  return {
    config,
    log,
    tokens,
    graph,
    admin,
    authenticate: (authorization) => authenticate(authorization, authDeps),
    async revokeApiKey(tenantId, keyId) {
      const { key_hash, ...revoked } = await admin.revokeApiKey(tenantId, keyId);
      await authCache.del(authCacheKey(key_hash));
      return revoked;
    },
    metrics,
    supabase,
    rpc,
    stores,
    rateLimiter,
    authCache,
    conversationCache,
    breaker,
    health: () =>
      getHealth({
        store: stores.health,
        redis: redisHealth,
        otel: () => (config.otelEndpoint ? "exporting" : "off"),
        e2b: () => (config.e2bApiKey ? "available" : "unavailable"),
        version: config.version,
      }),
  };
}
