export { NoOpCache } from "./adapters/noop/noop-cache";
export { NoOpRateLimiter } from "./adapters/noop/noop-rate-limiter";
export type { ApiKeyRecord, PricingFile, TenantRecord } from "./adapters/supabase/supabase-admin";
export { parsePricingFile, SupabaseAdmin } from "./adapters/supabase/supabase-admin";
export { CircuitBreaker, CircuitOpenError } from "./adapters/upstash/circuit-breaker";
export { UpstashCache } from "./adapters/upstash/upstash-cache";
export { UpstashRateLimiter } from "./adapters/upstash/upstash-rate-limiter";
export * from "./composition/create-core";
export * from "./config/config";
export * from "./domain/auth/api-key";
export * from "./domain/auth/authenticate";
export * from "./domain/auth/stream-token";
export * from "./domain/graph/graph-service";
export * from "./domain/health/get-health";
export * from "./domain/limits/admit";
export type * from "./domain/ports/cache.port";
export type * from "./domain/ports/graph-store.port";
export type * from "./domain/ports/logger.port";
export type * from "./domain/ports/metrics.port";
export * from "./domain/ports/model-provider.port";
export type * from "./domain/ports/rate-limiter.port";
export type * from "./domain/ports/store.port";
export type * from "./domain/ports/token-counter.port";
export type * from "./domain/ports/turn-store.port";
export * from "./domain/tools/tool-registry";
export * from "./domain/turns/idempotency";
export * from "./domain/turns/openai-chat";
export * from "./domain/turns/retry";
export * from "./domain/turns/turn-service";
export * from "./errors";
export * from "./http/error-envelope";
export * from "./http/validate";
export * from "./observability/cost-anomaly";
export { DependencyStatus } from "./observability/dependency-status";
export {
  markSpanFailed,
  type OtelState,
  type SpanRole,
  type Tracing,
  withSpan,
} from "./observability/tracing";
