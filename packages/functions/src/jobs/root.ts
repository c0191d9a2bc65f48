import {
  type CostAnomalySettings,
  createCore,
  DEFAULT_COST_ANOMALY_SETTINGS,
  loadConfig,
} from "@candor/core";
import { z } from "zod";

/** As in ../root.ts: SST binds parameters and secrets as `SST_*` variables, read from SSM at cold start. */
async function resolveEnvironment(env: NodeJS.ProcessEnv): Promise<Record<string, string | undefined>> {
  if (!env.SST_APP) return env;
  const { Config } = await import("sst/node/config");
  return { ...env, ...(Config as unknown as Record<string, string | undefined>) };
}

const env = await resolveEnvironment(process.env);

/**
 * The jobs' composition root, once per cold start: the same core as the API (Supabase required, the
 * service name `candor-jobs` on every log line and metric).
 */
export const core = createCore(loadConfig(env), { serviceName: "candor-jobs" });

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

export const settings = anomalySettings(env);
