/** Metric names of ARCHITECTURE.md and the fault-tolerance principles: the alarm matrix keys on them. */
export type MetricName =
  | "supabase_connection_status"
  | "redis_connection_status"
  | "rate_limiter_type"
  | "cache_type"
  | "cache_hit_rate"
  | "database_query_duration"
  | "rate_limit_checks_per_second"
  | "pricing_lookup_errors"
  | "cache_bypass_count"
  | "cache_write_failures"
  | "rate_limit_bypass_count"
  | "auth_validation_errors"
  | "otel_export_failures"
  | "db_pool_in_use"
  | "provider_latency"
  | "provider_errors"
  | "e2b_available"
  /** Tenants whose last 5 minutes of spend broke their baseline (the cost-anomaly scan job). */
  | "cost_anomaly_count";

export type MetricUnit = "Count" | "Milliseconds" | "Percent" | "None";

export interface Metrics {
  count(name: MetricName, value?: number, dimensions?: Record<string, string>): void;
  gauge(name: MetricName, value: number, unit?: MetricUnit, dimensions?: Record<string, string>): void;
  timing(name: MetricName, ms: number, dimensions?: Record<string, string>): void;
  /** Writes what was recorded (EMF on stdout); called at the end of each invocation. */
  flush(): void;
  /** Totals since this instance started, by metric name (a fixed, small set: bounded). */
  totals(): Readonly<Record<string, number>>;
}
