/**
 * The alarm matrix (fault-tolerance principles §5, ARCHITECTURE.md "signal" column) as data.
 * stacks/Alarms.ts turns each row into exactly one CloudWatch alarm notifying its priority's SNS
 * topic; tests/infra/stacks.test.ts checks that mapping row by row; docs/runbook.md has one section
 * per row, under the row's id.
 *
 * Application metrics are the EMF metrics of packages/core (namespace "Candor", dimensions
 * `service` and `stage`); the alarm for a stage watches that stage's metrics only.
 */
import type { MetricName } from "../packages/core/src/domain/ports/metrics.port";

/** P0: act now (paged). P1: within the hour. P2: within four hours. */
export type Priority = "P0" | "P1" | "P2";
export const PRIORITIES: readonly Priority[] = ["P0", "P1", "P2"];

/** The `service` dimension each process writes (the serviceName given to createCore). */
export type ServiceName = "candor-api" | "candor-realtime" | "candor-jobs";

export type Statistic = "Sum" | "Average" | "Minimum" | "Maximum" | "SampleCount" | `p${number}`;

export type Comparison =
  | "GreaterThanOrEqualToThreshold"
  | "GreaterThanThreshold"
  | "LessThanThreshold"
  | "LessThanOrEqualToThreshold";

/** CloudWatch's TreatMissingData. Application gauges only exist while there is traffic. */
export type MissingData = "breaching" | "notBreaching" | "ignore" | "missing";

export type MetricRef =
  /** An EMF metric of Candor, namespace "Candor", dimensions service + stage (+ `dimensions`). */
  | { source: "app"; service: ServiceName; name: MetricName; dimensions?: Record<string, string> }
  /** AWS/Lambda, summed over every function of the app (API groups and jobs), missing read as 0. */
  | { source: "lambda"; name: "Errors" | "Throttles" }
  /** AWS/ApiGateway metrics of the stage's HTTP API (dimension ApiId). */
  | { source: "http-api"; name: "5xx" | "Count" }
  /** AWS/ApplicationELB, the realtime service's target group: what its health check sees. */
  | { source: "realtime-target"; name: "HealthyHostCount" | "UnHealthyHostCount" };

export interface AlarmRow {
  /** Stable id: the alarm is `candor-<stage>-<id>`, and docs/runbook.md has a `## <id>` section. */
  id: string;
  priority: Priority;
  title: string;
  /** What the alarm watches: one metric, or an expression over named metrics (ids `[a-z][a-z0-9_]*`). */
  signal:
    | { metric: MetricRef }
    | { expression: string; label: string; metrics: Record<string, MetricRef & { statistic?: Statistic }> };
  /** Statistic of `metric`, and of each expression metric that does not name its own. */
  statistic: Statistic;
  comparison: Comparison;
  threshold: number;
  periodSeconds: 60 | 300 | 900 | 3600;
  evaluationPeriods: number;
  /** M of "M out of N"; defaults to evaluationPeriods (every period must breach). */
  datapointsToAlarm?: number;
  missingData: MissingData;
  /** One or two sentences: what it means and the first thing to do (the runbook has the rest). */
  runbook: string;
}

const api = (name: MetricName, dimensions?: Record<string, string>): MetricRef => ({
  source: "app",
  service: "candor-api",
  name,
  ...(dimensions ? { dimensions } : {}),
});

export const ALARMS: readonly AlarmRow[] = [
  // ── P0 ────────────────────────────────────────────────────────────────────────────────────────────
  {
    id: "supabase-connection-failures",
    priority: "P0",
    title: "Supabase connection failures",
    signal: { metric: api("supabase_connection_status") },
    // 1 per successful RPC, 0 per failed one: the share of calls that reached the database
    statistic: "Average",
    comparison: "LessThanThreshold",
    threshold: 0.9,
    periodSeconds: 60,
    evaluationPeriods: 3,
    datapointsToAlarm: 2,
    missingData: "notBreaching",
    runbook:
      "Over 10% of database calls fail in 2 of the last 3 minutes. The API answers 503 (fail closed): " +
      "check Supabase status, the service role key and the project's connection limits.",
  },
  {
    id: "pricing-lookup-failures",
    priority: "P0",
    title: "Pricing lookup failures",
    signal: { metric: api("pricing_lookup_errors") },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    periodSeconds: 60,
    evaluationPeriods: 1,
    missingData: "notBreaching",
    runbook:
      "A turn was refused because its model has no live price row. No provider call was made and nothing " +
      "was billed: add the price with `candor pricing set`.",
  },
  {
    id: "auth-validation-failures",
    priority: "P0",
    title: "Auth validation system failures",
    signal: { metric: api("auth_validation_errors") },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 3,
    periodSeconds: 60,
    evaluationPeriods: 2,
    missingData: "notBreaching",
    runbook:
      "API keys cannot be validated (the database lookup fails): requests with uncached keys get 503, " +
      "never 401 or an allow. Usually the same cause as supabase-connection-failures.",
  },

  // ── P1 ────────────────────────────────────────────────────────────────────────────────────────────
  {
    id: "redis-down-rate-limiting-disabled",
    priority: "P1",
    title: "Redis down: rate limiting disabled",
    signal: { metric: api("rate_limit_bypass_count") },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    periodSeconds: 60,
    evaluationPeriods: 5,
    missingData: "notBreaching",
    runbook:
      "Rate-limit checks fail open for 5 minutes running: every request is allowed and counted. " +
      "Check Upstash status and the REST token; watch tenant spend meanwhile.",
  },
  {
    id: "redis-down-caching-disabled",
    priority: "P1",
    title: "Redis down: caching disabled",
    signal: { metric: api("cache_bypass_count") },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    periodSeconds: 60,
    evaluationPeriods: 5,
    missingData: "notBreaching",
    runbook:
      "Cache reads fail through to the database for 5 minutes running. Responses stay correct; " +
      "database load rises. Check Upstash status and the REST token.",
  },
  {
    id: "db-load-from-cache-bypass",
    priority: "P1",
    title: "Database load up because of cache bypass",
    signal: {
      // database calls per minute, counted only in minutes where the cache was bypassed
      expression: "IF(bypass > 0, queries, 0)",
      label: "database calls per minute while the cache is bypassed",
      metrics: {
        queries: { ...api("database_query_duration"), statistic: "SampleCount" },
        bypass: api("cache_bypass_count"),
      },
    },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1_200,
    periodSeconds: 60,
    evaluationPeriods: 5,
    missingData: "notBreaching",
    runbook:
      "Over 1200 database calls a minute (20/s) for 5 minutes while Redis is bypassed. Restore Redis; " +
      "if it stays down, check Supabase CPU and connections before it becomes a P0.",
  },
  {
    id: "lambda-errors",
    priority: "P1",
    title: "Lambda function errors",
    signal: { metric: { source: "lambda", name: "Errors" } },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 5,
    periodSeconds: 300,
    evaluationPeriods: 1,
    missingData: "notBreaching",
    runbook:
      "Invocations that crashed or timed out (not HTTP errors, which the handlers answer themselves): " +
      "read the function's log group for `unhandled error` and Task timed out.",
  },
  {
    id: "lambda-throttles",
    priority: "P1",
    title: "Lambda throttles",
    signal: { metric: { source: "lambda", name: "Throttles" } },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 10,
    periodSeconds: 300,
    evaluationPeriods: 1,
    missingData: "notBreaching",
    runbook:
      "Invocations refused for concurrency: clients get 429/503 from API Gateway. Check the account's " +
      "concurrency quota and any reserved concurrency.",
  },
  {
    id: "api-5xx",
    priority: "P1",
    title: "API 5xx rate",
    signal: {
      // percent of requests answered 5xx, only once there are 20 requests in the period
      expression: "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)",
      label: "percent of API requests answered 5xx",
      metrics: {
        errors: { source: "http-api", name: "5xx" },
        requests: { source: "http-api", name: "Count" },
      },
    },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 5,
    periodSeconds: 300,
    evaluationPeriods: 2,
    missingData: "notBreaching",
    runbook:
      "Over 5% of requests answered 5xx for 10 minutes. The other alarms usually say why (database, " +
      "provider, crash); the error `type` in the access log tells which.",
  },
  {
    id: "realtime-unhealthy",
    priority: "P1",
    title: "Realtime service health",
    signal: { metric: { source: "realtime-target", name: "HealthyHostCount" } },
    statistic: "Minimum",
    comparison: "LessThanThreshold",
    threshold: 1,
    periodSeconds: 60,
    evaluationPeriods: 2,
    // no data from the load balancer means no healthy target reporting: breaching
    missingData: "breaching",
    runbook:
      "No realtime task passes its load balancer health check for 2 minutes: SSE streams and code " +
      "execution are down (the API is not). Check the ECS service events and the task logs.",
  },

  // ── P2 ────────────────────────────────────────────────────────────────────────────────────────────
  {
    id: "db-query-latency-high",
    priority: "P2",
    title: "High database query latency",
    signal: { metric: api("database_query_duration") },
    statistic: "p95",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 800,
    periodSeconds: 300,
    evaluationPeriods: 3,
    missingData: "notBreaching",
    runbook:
      "p95 of database calls over 800 ms for 15 minutes. Check Supabase query performance and CPU, and " +
      "whether the cache is bypassed (db-load-from-cache-bypass).",
  },
  {
    id: "db-pool-saturation",
    priority: "P2",
    title: "Connection pool saturation (realtime service)",
    signal: { metric: { source: "app", service: "candor-realtime", name: "db_pool_in_use" } },
    // DB_POOL_MAX defaults to 10: 9 in use at the peak of each of 3 periods is saturation
    statistic: "Maximum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 9,
    periodSeconds: 300,
    evaluationPeriods: 3,
    missingData: "notBreaching",
    runbook:
      "The realtime service's query pool is (nearly) full for 15 minutes: replays and sandbox metadata " +
      "queue. Scale out the service or raise DB_POOL_MAX within the database's connection limit.",
  },
  {
    id: "otel-export-failures",
    priority: "P2",
    title: "OTEL forwarding failures",
    signal: {
      expression: "FILL(api, 0) + FILL(realtime, 0) + FILL(jobs, 0)",
      label: "failed span exports, all services",
      metrics: {
        api: api("otel_export_failures"),
        realtime: { source: "app", service: "candor-realtime", name: "otel_export_failures" },
        jobs: { source: "app", service: "candor-jobs", name: "otel_export_failures" },
      },
    },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    periodSeconds: 300,
    evaluationPeriods: 3,
    missingData: "notBreaching",
    runbook:
      "Spans fail to reach the OTLP collector for 15 minutes. Requests are unaffected (traces are " +
      "dropped). Check the collector at OTEL_EXPORTER_OTLP_ENDPOINT.",
  },
  {
    id: "cost-anomaly",
    priority: "P2",
    title: "Cost anomaly",
    signal: { metric: { source: "app", service: "candor-jobs", name: "cost_anomaly_count" } },
    statistic: "Sum",
    comparison: "GreaterThanOrEqualToThreshold",
    threshold: 1,
    periodSeconds: 300,
    evaluationPeriods: 1,
    missingData: "notBreaching",
    runbook:
      "A tenant spent far above its trailing 24-hour baseline in the last 5 minutes. The `cost anomaly` " +
      "log line of the scan names the tenant: check its usage and budget.",
  },
];
