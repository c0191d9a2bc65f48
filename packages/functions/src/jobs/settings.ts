import { type CostAnomalySettings, DEFAULT_COST_ANOMALY_SETTINGS } from "@candor/core";
import { z } from "zod";

const d = DEFAULT_COST_ANOMALY_SETTINGS;
const num = (min: number, max: number, fallback: number) =>
  z.coerce.number().min(min).max(max).default(fallback);

/** Tuning of the scan (not dependencies): each has its default, stated in DEFAULT_COST_ANOMALY_SETTINGS. */
const AnomalyEnv = z.object({
  COST_ANOMALY_SIGMA: num(1, 100, d.sigma),
  COST_ANOMALY_RATIO: num(1, 1_000, d.ratio),
  COST_ANOMALY_MIN_USD: num(0, 1_000_000, d.minUsd),
  COST_ANOMALY_BASELINE_BUCKETS: num(1, 2016, d.baselineBuckets).pipe(z.number().int()),
  COST_ANOMALY_MAX_TENANTS: num(1, 5000, d.maxTenants).pipe(z.number().int()),
});

/** Throws (naming the variable) on a value out of range: a mistyped tuning must not pass silently. */
export function anomalySettings(source: Record<string, string | undefined>): CostAnomalySettings {
  const e = AnomalyEnv.parse(source);
  return {
    ...d,
    sigma: e.COST_ANOMALY_SIGMA,
    ratio: e.COST_ANOMALY_RATIO,
    minUsd: e.COST_ANOMALY_MIN_USD,
    baselineBuckets: e.COST_ANOMALY_BASELINE_BUCKETS,
    maxTenants: e.COST_ANOMALY_MAX_TENANTS,
  };
}
