import { bucketEnd, type ScanReport, scanCostAnomalies, withSpan } from "@candor/core";
import { core, settings } from "./root";

/** The EventBridge scheduled event, as far as the scan reads it. */
export interface ScheduledEvent {
  /** The scheduled time (ISO 8601), not the delivery time: a late run still judges its own bucket. */
  time?: string;
}

/**
 * Scheduled every 5 minutes (stacks/Jobs.ts): judges each tenant's spend in the last complete
 * 5-minute bucket against its trailing 24 hours, emits cost_anomaly_count (P2 alarm `cost-anomaly`
 * in infra/alarms.ts) and logs each anomaly. A failure is thrown: the invocation fails, EventBridge
 * retries it, and the lambda-errors alarm counts it.
 */
export async function handler(event: ScheduledEvent = {}): Promise<ScanReport> {
  const scheduled = event.time ? Date.parse(event.time) : Number.NaN;
  const until = bucketEnd(Number.isNaN(scheduled) ? Date.now() : scheduled, settings.bucketSeconds);
  core.log.appendKeys({ job: "cost-anomaly-scan" });
  try {
    return await withSpan(
      "job cost-anomaly-scan",
      {},
      () => scanCostAnomalies(until, { rpc: core.rpc, metrics: core.metrics, log: core.log, settings }),
      "server",
    );
  } finally {
    await core.tracing.flush();
    core.metrics.flush();
    core.log.resetKeys();
  }
}
