import type { SupabaseClient } from "@supabase/supabase-js";
import type { Redis } from "@upstash/redis";
import { NoOpCache } from "../adapters/noop/noop-cache";
import { NoOpRateLimiter } from "../adapters/noop/noop-rate-limiter";
import { ProviderRegistry } from "../adapters/providers/provider-registry";
import { SupabaseAdmin } from "../adapters/supabase/supabase-admin";
import { createSupabaseServiceClient } from "../adapters/supabase/supabase-client";
import { SupabaseGraphStore } from "../adapters/supabase/supabase-graph-store";
import { SupabaseRpc } from "../adapters/supabase/supabase-rpc";
import { SupabaseAuthStore, SupabaseHealthStore } from "../adapters/supabase/supabase-stores";
import { SupabaseTurnStore } from "../adapters/supabase/supabase-turn-store";
import { BpeTokenCounter } from "../adapters/tokenizer/bpe-token-counter";
import { CircuitBreaker } from "../adapters/upstash/circuit-breaker";
import { UpstashCache } from "../adapters/upstash/upstash-cache";
import { createUpstashClient } from "../adapters/upstash/upstash-client";
import { UpstashRateLimiter } from "../adapters/upstash/upstash-rate-limiter";
import type { CandorConfig } from "../config/config";
import { authCacheKey, authenticate } from "../domain/auth/authenticate";
import { GraphService } from "../domain/graph/graph-service";
import { getHealth, type Health, type RedisHealth } from "../domain/health/get-health";
import type { Cache } from "../domain/ports/cache.port";
import type { Metrics } from "../domain/ports/metrics.port";
import type { RateLimiter } from "../domain/ports/rate-limiter.port";
import type { ApiKeyPrincipal, AuthStore, HealthStore } from "../domain/ports/store.port";
import type { TokenCounter } from "../domain/ports/token-counter.port";
import { TurnService } from "../domain/turns/turn-service";
import { DependencyStatus } from "../observability/dependency-status";
import { type CandorLogger, createLogger } from "../observability/powertools-logger";
import { createMetrics } from "../observability/powertools-metrics";
import { createTracing, type Tracing, withSpan } from "../observability/tracing";

export interface Core {
  config: CandorConfig;
  log: CandorLogger;
  metrics: Metrics;
  /** Spans to the OTLP collector when OTEL_EXPORTER_OTLP_ENDPOINT is set; flushed per invocation. */
  tracing: Tracing;
  supabase: SupabaseClient;
  rpc: SupabaseRpc;
  stores: { auth: AuthStore; health: HealthStore };
  rateLimiter: RateLimiter;
  authCache: Cache;
  conversationCache: Cache;
  breaker: CircuitBreaker | undefined;
  tokens: TokenCounter;
  graph: GraphService;
  turns: TurnService;
  admin: SupabaseAdmin;
  authenticate(authorization: string | undefined): Promise<ApiKeyPrincipal>;
  /** Revokes a key in the store, then deletes its auth cache entry so it stops working at once. */
  revokeApiKey(tenantId: string, keyId: string): Promise<{ id: string; prefix: string; revoked_at: string }>;
  /** Sets a key's own request limit; drops its auth cache entry so the new limit applies at once. */
  setApiKeyLimit(
    tenantId: string,
    keyId: string,
    requestsPerMinute: number | null,
  ): Promise<{ id: string; prefix: string; requests_per_minute: number | null }>;
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
  const tracing = createTracing({
    endpoint: config.otelEndpoint,
    serviceName: options.serviceName,
    stage: config.stage,
    version: config.version,
    log,
    metrics,
    requestAttributes: () => {
      const k = log.keys();
      return {
        ...(typeof k.request_id === "string" ? { "candor.request_id": k.request_id } : {}),
        ...(typeof k.tenant_id === "string" ? { "candor.tenant_id": k.tenant_id } : {}),
        ...(typeof k.route === "string" ? { "http.route": k.route } : {}),
      };
    },
  });

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
    const base = { url: config.upstash.url, token: config.upstash.token, timeoutMs: config.redis.timeoutMs };
    // GET/SET/DEL are idempotent: one immediate retry (same deadline) rides over a stale keep-alive socket
    const cacheClient = createUpstashClient({ ...base, retries: 1, automaticDeserialization: false });
    cacheRedis = cacheClient;
    // a limit() that reached Redis before the connection broke would be counted twice on a retry
    limiterRedis = createUpstashClient({ ...base, retries: 0, automaticDeserialization: true });
    // one breaker for the limiter and both caches: they share the one Redis, so they share its state;
    // it probes with a PING in the background, so no request waits on a probe
    breaker = new CircuitBreaker({
      failureThreshold: config.redis.breakerFailureThreshold,
      window: config.redis.breakerWindow,
      openMs: config.redis.breakerOpenMs,
      status: redisStatus,
      probe: () => cacheClient.ping(),
    });
  }
  const prefix = config.redis.keyPrefix;
  const cache = (name: string, chosen: AdapterChoice): Cache =>
    chosen === "upstash" && cacheRedis && breaker
      ? new UpstashCache({ redis: cacheRedis, breaker, metrics, prefix: `${prefix}${name}:v1:` })
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
      await breaker.run(() =>
        withSpan("upstash PING", { "db.system.name": "redis", "db.operation.name": "PING" }, () =>
          redis.ping(),
        ),
      );
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
  const turns = new TurnService({
    store: new SupabaseTurnStore(rpc),
    providers: new ProviderRegistry({
      anthropic: config.providers.anthropic,
      openai: config.providers.openai,
      compatibleApiKey: config.providers.compatibleApiKey,
      timeoutMs: config.providers.timeoutMs,
    }),
    tokens,
    metrics,
    log,
    settings: { ...config.turns, attemptTimeoutMs: config.providers.timeoutMs },
    conversationChanged: (tenantId, id) => graph.conversationChanged(tenantId, id),
  });
  const admin = new SupabaseAdmin(rpc);
  const authDeps = { store: stores.auth, cache: authCache, metrics, ttlSeconds: config.cache.authTtlSeconds };

  return {
    config,
    log,
    tokens,
    graph,
    turns,
    admin,
    authenticate: (authorization) => authenticate(authorization, authDeps),
    async setApiKeyLimit(tenantId, keyId, requestsPerMinute) {
      const { key_hash, ...updated } = await admin.setApiKeyLimit(tenantId, keyId, requestsPerMinute);
      await authCache.del(authCacheKey(key_hash));
      return updated;
    },
    async revokeApiKey(tenantId, keyId) {
      const { key_hash, ...revoked } = await admin.revokeApiKey(tenantId, keyId);
      await authCache.del(authCacheKey(key_hash));
      return revoked;
    },
    metrics,
    tracing,
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
        otel: () => tracing.state(),
        e2b: () => (config.e2bApiKey ? "available" : "unavailable"),
        version: config.version,
      }),
  };
}
