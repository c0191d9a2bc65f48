import { z } from "zod";
import { ConfigError } from "../errors";

const CONFIG_DOC = "See README.md, section Configuration.";

const flag = (defaultValue: boolean) =>
  z
    .enum(["true", "false", "1", "0"])
    .optional()
    .transform((v) => (v === undefined ? defaultValue : v === "true" || v === "1"));

const intInRange = (min: number, max: number, defaultValue: number) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const optionalUrl = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()))
  .pipe(z.url().optional());

/**
 * Every environment variable Candor reads, parsed once per process. Tuning values have stated
 * defaults here; required dependencies (Supabase) have none, ever.
 */
const EnvSchema = z.object({
  CANDOR_STAGE: z.string().trim().min(1).default("local"),
  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: optionalString,
  /** Per-request timeout of a Supabase RPC, in ms. */
  SUPABASE_TIMEOUT_MS: intInRange(100, 60_000, 5_000),

  UPSTASH_REDIS_REST_URL: optionalUrl,
  UPSTASH_REDIS_REST_TOKEN: optionalString,
  ENABLE_RATE_LIMITER_REDIS: flag(true),
  ENABLE_AUTH_VALIDATION_CACHE: flag(true),
  ENABLE_CONVERSATION_CACHING: flag(true),
  /** Timeout of each Upstash call on the request path, in ms: a slow Redis costs at most this. */
  REDIS_TIMEOUT_MS: intInRange(10, 5_000, 150),
  /** Prefix of every Redis key Candor writes (keeps stages and test runs apart). */
  REDIS_KEY_PREFIX: z.string().trim().min(1).max(100).default("candor:"),
  AUTH_CACHE_TTL_SECONDS: intInRange(1, 60, 60),
  CONVERSATION_CACHE_TTL_SECONDS: intInRange(1, 86_400, 300),
  /**
   * Circuit breaker: it opens when REDIS_BREAKER_FAILURE_THRESHOLD of the last REDIS_BREAKER_WINDOW
   * Redis calls failed (defaults 5 of 10: five in a row, or a 50 % failure rate), stays open
   * REDIS_BREAKER_OPEN_MS, then lets one probe through.
   */
  REDIS_BREAKER_FAILURE_THRESHOLD: intInRange(1, 1_000, 5),
  REDIS_BREAKER_WINDOW: intInRange(1, 1_000, 10),
  REDIS_BREAKER_OPEN_MS: intInRange(100, 600_000, 5_000),

  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_COMPATIBLE_API_KEY: optionalString,
  /** Timeout of one provider attempt. */
  PROVIDER_TIMEOUT_MS: intInRange(1_000, 600_000, 20_000),
  /** A whole turn's provider budget (retries and failover included): under API Gateway's 30 s. */
  TURN_DEADLINE_MS: intInRange(1_000, 900_000, 25_000),
  /** How long a running turn is leased to its process before a retry may take it over. */
  TURN_LEASE_SECONDS: intInRange(1, 3_600, 60),
  PROVIDER_RETRY_ATTEMPTS: intInRange(1, 3, 3),
  PROVIDER_RETRY_BASE_MS: intInRange(1, 10_000, 200),
  PROVIDER_RETRY_CAP_MS: intInRange(1, 60_000, 2_000),

  E2B_API_KEY: optionalString,
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  STREAM_TOKEN_SECRET: optionalString,
  REALTIME_URL: optionalUrl,
  MAX_BODY_BYTES: intInRange(1_024, 10 * 1024 * 1024, 256 * 1024),
  LOG_LEVEL: z.enum(["DEBUG", "INFO", "WARN", "ERROR", "SILENT"]).default("INFO"),
  CANDOR_VERSION: z.string().default("0.1.0"),
});

type Env = z.infer<typeof EnvSchema>;

export interface CandorConfig {
  stage: string;
  version: string;
  logLevel: Env["LOG_LEVEL"];
  supabase: { url: string; serviceRoleKey: string; timeoutMs: number };
  upstash: { url: string; token: string } | undefined;
  features: { rateLimiterRedis: boolean; authValidationCache: boolean; conversationCaching: boolean };
  redis: {
    timeoutMs: number;
    keyPrefix: string;
    breakerFailureThreshold: number;
    breakerWindow: number;
    breakerOpenMs: number;
  };
  cache: { authTtlSeconds: number; conversationTtlSeconds: number };
  providers: {
    anthropic: { apiKey: string; baseUrl: string | undefined } | undefined;
    openai: { apiKey: string; baseUrl: string | undefined } | undefined;
    compatibleApiKey: string | undefined;
    timeoutMs: number;
  };
  turns: {
    leaseSeconds: number;
    deadlineMs: number;
    retryAttempts: number;
    retryBaseMs: number;
    retryCapMs: number;
  };
  e2bApiKey: string | undefined;
  otelEndpoint: string | undefined;
  streamTokenSecret: string | undefined;
  realtimeUrl: string | undefined;
  maxBodyBytes: number;
}

/**
 * Parses the environment. Throws ConfigError naming every missing or invalid variable.
 * Supabase is the system of record: without SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY nothing runs,
 * in any stage (the offline stack sets both for its local endpoint).
 */
export function loadConfig(env: Record<string, string | undefined>): CandorConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const vars = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
    const detail = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid configuration (${detail}). ${CONFIG_DOC}`, vars);
  }
  const e = parsed.data;
  const missing = [
    !e.SUPABASE_URL && "SUPABASE_URL",
    !e.SUPABASE_SERVICE_ROLE_KEY && "SUPABASE_SERVICE_ROLE_KEY",
  ].filter((v): v is string => Boolean(v));
  if (missing.length > 0) {
    throw new ConfigError(
      `Missing required configuration: ${missing.join(", ")} (stage "${e.CANDOR_STAGE}"). ` +
        `Supabase is the system of record and has no default. ${CONFIG_DOC}`,
      missing,
    );
  }
  const halfUpstash = Boolean(e.UPSTASH_REDIS_REST_URL) !== Boolean(e.UPSTASH_REDIS_REST_TOKEN);
  if (halfUpstash) {
    const absent = e.UPSTASH_REDIS_REST_URL ? "UPSTASH_REDIS_REST_TOKEN" : "UPSTASH_REDIS_REST_URL";
    throw new ConfigError(
      `UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together; ${absent} is missing. ${CONFIG_DOC}`,
      [absent],
    );
  }
  if (e.REDIS_BREAKER_FAILURE_THRESHOLD > e.REDIS_BREAKER_WINDOW) {
    throw new ConfigError(
      `REDIS_BREAKER_FAILURE_THRESHOLD (${e.REDIS_BREAKER_FAILURE_THRESHOLD}) is larger than REDIS_BREAKER_WINDOW ` +
        `(${e.REDIS_BREAKER_WINDOW}): the circuit breaker could never open. ${CONFIG_DOC}`,
      ["REDIS_BREAKER_FAILURE_THRESHOLD", "REDIS_BREAKER_WINDOW"],
    );
  }
  return {
    stage: e.CANDOR_STAGE,
    version: e.CANDOR_VERSION,
    logLevel: e.LOG_LEVEL,
    supabase: {
      url: e.SUPABASE_URL as string,
      serviceRoleKey: e.SUPABASE_SERVICE_ROLE_KEY as string,
      timeoutMs: e.SUPABASE_TIMEOUT_MS,
    },
    upstash:
      e.UPSTASH_REDIS_REST_URL && e.UPSTASH_REDIS_REST_TOKEN
        ? { url: e.UPSTASH_REDIS_REST_URL, token: e.UPSTASH_REDIS_REST_TOKEN }
        : undefined,
    features: {
      rateLimiterRedis: e.ENABLE_RATE_LIMITER_REDIS,
      authValidationCache: e.ENABLE_AUTH_VALIDATION_CACHE,
      conversationCaching: e.ENABLE_CONVERSATION_CACHING,
    },
    redis: {
      timeoutMs: e.REDIS_TIMEOUT_MS,
      keyPrefix: e.REDIS_KEY_PREFIX,
      breakerFailureThreshold: e.REDIS_BREAKER_FAILURE_THRESHOLD,
      breakerWindow: e.REDIS_BREAKER_WINDOW,
      breakerOpenMs: e.REDIS_BREAKER_OPEN_MS,
    },
    cache: {
      authTtlSeconds: e.AUTH_CACHE_TTL_SECONDS,
      conversationTtlSeconds: e.CONVERSATION_CACHE_TTL_SECONDS,
    },
    providers: {
      anthropic: e.ANTHROPIC_API_KEY
        ? { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL }
        : undefined,
      openai: e.OPENAI_API_KEY ? { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL } : undefined,
      compatibleApiKey: e.OPENAI_COMPATIBLE_API_KEY,
      timeoutMs: e.PROVIDER_TIMEOUT_MS,
    },
    turns: {
      leaseSeconds: e.TURN_LEASE_SECONDS,
      deadlineMs: e.TURN_DEADLINE_MS,
      retryAttempts: e.PROVIDER_RETRY_ATTEMPTS,
      retryBaseMs: e.PROVIDER_RETRY_BASE_MS,
      retryCapMs: e.PROVIDER_RETRY_CAP_MS,
    },
    e2bApiKey: e.E2B_API_KEY,
    otelEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    streamTokenSecret: e.STREAM_TOKEN_SECRET,
    realtimeUrl: e.REALTIME_URL,
    maxBodyBytes: e.MAX_BODY_BYTES,
  };
}

/** The variables loadConfig reads, for documentation tests. */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);
