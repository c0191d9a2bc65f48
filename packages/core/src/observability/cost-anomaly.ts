import type { Log } from "../domain/ports/logger.port";
import type { Metrics } from "../domain/ports/metrics.port";

/**
 * Cost anomaly detection for the scheduled scan (stacks/Jobs.ts): each tenant's spend in the last
 * bucket against its own trailing baseline. The history is read from the ledger (RPC
 * cost_spend_window) on every scan, never accumulated across invocations: a cold start loses
 * nothing and two concurrent scans agree.
 *
 * Anomaly-detection history in memory (fault-tolerance §3.1), bounded and per scan: the RPC's answer
 * holds at most maxTenants × baselineBuckets non-zero buckets (500 × 288 by default; the RPC refuses
 * more than 5000 × 2016), and one dense baseline of baselineBuckets numbers exists at a time, dropped
 * once its tenant is judged. Nothing outlives the invocation.
 */

export interface CostAnomalySettings {
  /** Bucket width: the scan runs once per bucket. */
  bucketSeconds: number;
  /** Buckets of trailing baseline (288 × 5 min = 24 h). */
  baselineBuckets: number;
  /** Tenants scanned per run, biggest spenders of the last bucket first. */
  maxTenants: number;
  /** Anomalous above mean + sigma × standard deviation of the baseline… */
  sigma: number;
  /** …and above ratio × the baseline mean… */
  ratio: number;
  /** …and above this many USD in the bucket (small spend is never an anomaly). */
  minUsd: number;
  /** Anomalies logged one by one per scan; the rest are counted in one line. */
  maxLoggedAnomalies: number;
}

export const DEFAULT_COST_ANOMALY_SETTINGS: Readonly<CostAnomalySettings> = Object.freeze({
  bucketSeconds: 300,
  baselineBuckets: 288,
  maxTenants: 500,
  sigma: 4,
  ratio: 3,
  minUsd: 1,
  maxLoggedAnomalies: 20,
});

/** What cost_spend_window returns: money as exact decimal text, sparse baseline `[ago, usd]`. */
export interface SpendWindow {
  until: string;
  bucket_seconds: number;
  baseline_buckets: number;
  tenants_with_spend: number;
  tenants: { tenant_id: string; current_usd: string; baseline: [number, string][] }[];
}

export interface Verdict {
  anomalous: boolean;
  mean: number;
  stddev: number;
  threshold: number;
}

/**
 * One tenant's verdict. `baseline` is dense: one value per bucket, zeros included (a tenant that
 * usually spends nothing has mean 0, and then only `minUsd` stands between it and an alarm).
 */
export function judge(currentUsd: number, baseline: readonly number[], s: CostAnomalySettings): Verdict {
  const n = baseline.length;
  const mean = n === 0 ? 0 : baseline.reduce((a, b) => a + b, 0) / n;
  const variance = n === 0 ? 0 : baseline.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  const stddev = Math.sqrt(variance);
  const threshold = Math.max(mean + s.sigma * stddev, mean * s.ratio, s.minUsd);
  return { anomalous: currentUsd > threshold, mean, stddev, threshold };
}

/** The sparse `[ago, usd]` pairs as one value per bucket. */
export function denseBaseline(pairs: readonly [number, string][], buckets: number): number[] {
  // Per tenant, per scan: `buckets` numbers (≤ 2016, the RPC's bound), dropped when the tenant is judged.
  const dense = new Array<number>(buckets).fill(0);
  for (const [ago, usd] of pairs) if (ago >= 0 && ago < buckets) dense[ago] = Number(usd);
  return dense;
}

/** The grid point at or before `ms`, the end of the last complete bucket: the scan at 12:05:07 judges [12:00, 12:05). */
export function bucketEnd(ms: number, bucketSeconds: number): Date {
  const width = bucketSeconds * 1000;
  return new Date(Math.floor(ms / width) * width);
}

export interface ScanDeps {
  rpc: { call<T>(fn: string, args?: Record<string, unknown>): Promise<T> };
  metrics: Metrics;
  log: Log;
  settings: CostAnomalySettings;
}

export interface ScanReport {
  until: string;
  scanned: number;
  tenantsWithSpend: number;
  anomalies: { tenantId: string; currentUsd: number; meanUsd: number; thresholdUsd: number }[];
}

/**
 * One scan: reads the window, judges each tenant, emits cost_anomaly_count (0 included, so the
 * P2 alarm always has a datapoint) and logs each anomaly with its tenant (never a prompt or a key).
 * A database failure propagates: the job fails, and the Lambda errors alarm says so.
 */
export async function scanCostAnomalies(until: Date, d: ScanDeps): Promise<ScanReport> {
  const s = d.settings;
  const window = await d.rpc.call<SpendWindow>("cost_spend_window", {
    p_until: until.toISOString(),
    p_bucket_seconds: s.bucketSeconds,
    p_baseline_buckets: s.baselineBuckets,
    p_max_tenants: s.maxTenants,
  });
  const anomalies: ScanReport["anomalies"] = [];
  for (const t of window.tenants) {
    const current = Number(t.current_usd);
    const v = judge(current, denseBaseline(t.baseline, s.baselineBuckets), s);
    if (v.anomalous) {
      anomalies.push({
        tenantId: t.tenant_id,
        currentUsd: current,
        meanUsd: v.mean,
        thresholdUsd: v.threshold,
      });
    }
  }
  d.metrics.count("cost_anomaly_count", anomalies.length);
  for (const a of anomalies.slice(0, s.maxLoggedAnomalies)) {
    d.log.warn("cost anomaly", {
      tenant_id: a.tenantId,
      bucket_end: until.toISOString(),
      bucket_seconds: s.bucketSeconds,
      spend_usd: a.currentUsd,
      baseline_mean_usd: a.meanUsd,
      threshold_usd: a.thresholdUsd,
    });
  }
  const truncated = window.tenants_with_spend > window.tenants.length;
  d.log.info("cost anomaly scan", {
    bucket_end: until.toISOString(),
    scanned: window.tenants.length,
    tenants_with_spend: window.tenants_with_spend,
    anomalies: anomalies.length,
    ...(anomalies.length > s.maxLoggedAnomalies
      ? { not_logged: anomalies.length - s.maxLoggedAnomalies }
      : {}),
    ...(truncated ? { truncated: true } : {}),
  });
  return {
    until: until.toISOString(),
    scanned: window.tenants.length,
    tenantsWithSpend: window.tenants_with_spend,
    anomalies,
  };
}
