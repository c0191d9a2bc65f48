import { ConfigError } from "@candor/core";
import { z } from "zod";

const CONFIG_DOC = "See README.md, section Configuration (realtime service).";

const int = (min: number, max: number, defaultValue: number) =>
  z.coerce.number().int().min(min).max(max).default(defaultValue);

/**
 * The realtime service's own variables, on top of the ones `loadConfig` of @candor/core reads
 * (SUPABASE_*, UPSTASH_*, STREAM_TOKEN_SECRET, E2B_API_KEY, LOG_LEVEL…). Every bound of the
 * per-instance state is here, with its default.
 */
const RealtimeEnvSchema = z.object({
  /** Direct Postgres connection (not the pooler): LISTEN needs a session of its own. */
  DATABASE_URL: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim())),
  PORT: int(0, 65_535, 8080),
  /** Comment heartbeat on every stream; stays under the load balancer's idle timeout (120 s). */
  SSE_HEARTBEAT_MS: int(100, 60_000, 15_000),
  /** Reconnection delay sent to clients in the `retry:` field. */
  SSE_RETRY_MS: int(100, 60_000, 2_000),
  /** Subscribers per process: over it, 503 with Retry-After (another instance takes the client). */
  SSE_MAX_SUBSCRIBERS: int(1, 200_000, 10_000),
  /** Subscribers per tenant on this process. */
  SSE_MAX_SUBSCRIBERS_PER_TENANT: int(1, 200_000, 1_000),
  /** Bytes queued on one subscriber's socket before it is cut as slow (it resumes with Last-Event-ID). */
  SSE_MAX_BUFFERED_BYTES: int(1_024, 64 * 1024 * 1024, 256 * 1024),
  /** Rows per replay query out of graph_events. */
  SSE_REPLAY_PAGE_SIZE: int(1, 10_000, 500),
  /** Live events held for one subscriber (or conversation) while it replays; over it, replay again. */
  SSE_MAX_PENDING_EVENTS: int(1, 100_000, 1_000),
  /** Upper bound of the LISTEN reconnection backoff (full jitter, base 100 ms). */
  LISTEN_RECONNECT_MAX_MS: int(100, 600_000, 10_000),
  /** How often the LISTEN connection is probed (`select 1`), to notice a half-open socket. */
  LISTEN_PROBE_MS: int(100, 600_000, 30_000),
  /** Connections of the query pool (event reads, replays, sandbox metadata). */
  DB_POOL_MAX: int(1, 100, 10),
  /** SIGTERM: streams are told to retry and everything is closed within this. */
  SHUTDOWN_TIMEOUT_MS: int(100, 60_000, 9_000),
  /** Sandboxes per process (one per conversation). */
  E2B_POOL_MAX: int(1, 1_000, 20),
  /** A sandbox unused for this long is killed. */
  E2B_IDLE_MS: int(1_000, 86_400_000, 300_000),
  /** E2B-side lifetime of a sandbox; the pool retires it before then. Orphans (a crashed process) die by it. */
  E2B_SANDBOX_LIFETIME_MS: int(60_000, 86_400_000, 1_800_000),
  /** Default and maximum `timeout_ms` of one execution. */
  EXECUTION_TIMEOUT_MS: int(100, 600_000, 30_000),
  EXECUTION_MAX_TIMEOUT_MS: int(100, 600_000, 120_000),
  /** Gauges (subscribers, db_pool_in_use, sandboxes) are emitted this often. */
  METRICS_INTERVAL_MS: int(1_000, 3_600_000, 60_000),
});

export interface RealtimeConfig {
  databaseUrl: string | undefined;
  port: number;
  sse: {
    heartbeatMs: number;
    retryMs: number;
    maxSubscribers: number;
    maxSubscribersPerTenant: number;
    maxBufferedBytes: number;
    replayPageSize: number;
    maxPendingEvents: number;
  };
  listen: { reconnectMaxMs: number; probeMs: number };
  dbPoolMax: number;
  shutdownTimeoutMs: number;
  e2b: { poolMax: number; idleMs: number; lifetimeMs: number };
  execution: { defaultTimeoutMs: number; maxTimeoutMs: number };
  metricsIntervalMs: number;
}

/** The names this package reads, for documentation tests. */
export const REALTIME_CONFIG_VARIABLES: readonly string[] = Object.keys(RealtimeEnvSchema.shape);

/** Throws ConfigError naming every invalid variable. */
export function loadRealtimeConfig(env: Record<string, string | undefined>): RealtimeConfig {
  const parsed = RealtimeEnvSchema.safeParse(env);
  if (!parsed.success) {
    const vars = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))];
    const detail = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid realtime configuration (${detail}). ${CONFIG_DOC}`, vars);
  }
  const e = parsed.data;
  if (e.EXECUTION_TIMEOUT_MS > e.EXECUTION_MAX_TIMEOUT_MS) {
    throw new ConfigError("EXECUTION_TIMEOUT_MS is above EXECUTION_MAX_TIMEOUT_MS", ["EXECUTION_TIMEOUT_MS"]);
  }
  return {
    databaseUrl: e.DATABASE_URL,
    port: e.PORT,
    sse: {
      heartbeatMs: e.SSE_HEARTBEAT_MS,
      retryMs: e.SSE_RETRY_MS,
      maxSubscribers: e.SSE_MAX_SUBSCRIBERS,
      maxSubscribersPerTenant: e.SSE_MAX_SUBSCRIBERS_PER_TENANT,
      maxBufferedBytes: e.SSE_MAX_BUFFERED_BYTES,
      replayPageSize: e.SSE_REPLAY_PAGE_SIZE,
      maxPendingEvents: e.SSE_MAX_PENDING_EVENTS,
    },
    listen: { reconnectMaxMs: e.LISTEN_RECONNECT_MAX_MS, probeMs: e.LISTEN_PROBE_MS },
    dbPoolMax: e.DB_POOL_MAX,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    e2b: { poolMax: e.E2B_POOL_MAX, idleMs: e.E2B_IDLE_MS, lifetimeMs: e.E2B_SANDBOX_LIFETIME_MS },
    execution: { defaultTimeoutMs: e.EXECUTION_TIMEOUT_MS, maxTimeoutMs: e.EXECUTION_MAX_TIMEOUT_MS },
    metricsIntervalMs: e.METRICS_INTERVAL_MS,
  };
}
