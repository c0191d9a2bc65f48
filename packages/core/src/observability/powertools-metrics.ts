import { MetricUnit, Metrics as PowertoolsMetrics } from "@aws-lambda-powertools/metrics";
import type { MetricName, Metrics, MetricUnit as Unit } from "../domain/ports/metrics.port";

export interface CreateMetricsOptions {
  serviceName: string;
  stage: string;
  /** CloudWatch namespace; the alarm matrix expects "Candor". */
  namespace?: string;
}

const UNITS: Record<Unit, (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  Percent: MetricUnit.Percent,
  None: MetricUnit.NoUnit,
};

/**
 * CloudWatch metrics as EMF lines on stdout (Powertools). Dimensions: service and stage on every
 * metric; a metric with its own dimension (rate_limiter_type=upstash) is emitted at once as a
 * single metric so it does not leak its dimension onto the others.
 */
export function createMetrics(options: CreateMetricsOptions): Metrics {
  const pt = new PowertoolsMetrics({
    namespace: options.namespace ?? "Candor",
    serviceName: options.serviceName,
    defaultDimensions: { stage: options.stage },
  });
  // Totals since cold start, keyed by metric name: a closed set of names, so bounded.
  const totals: Record<string, number> = {};
  let stored = 0;

  const record = (name: MetricName, unit: Unit, value: number, dimensions?: Record<string, string>) => {
    totals[name] = unit === "Count" ? (totals[name] ?? 0) + value : value;
    if (dimensions && Object.keys(dimensions).length > 0) {
      const single = pt.singleMetric();
      single.addDimensions(dimensions);
      single.addMetric(name, UNITS[unit], value);
      return;
    }
    pt.addMetric(name, UNITS[unit], value);
    stored++;
    // Powertools flushes by itself at 100 values; flushing earlier keeps each line small
    if (stored >= 90) flush();
  };
  const flush = () => {
    if (stored === 0) return;
    stored = 0;
    pt.publishStoredMetrics();
  };
  return {
    count: (name, value = 1, dimensions) => record(name, "Count", value, dimensions),
    gauge: (name, value, unit = "None", dimensions) => record(name, unit, value, dimensions),
    timing: (name, ms, dimensions) => record(name, "Milliseconds", ms, dimensions),
    flush,
    totals: () => ({ ...totals }),
  };
}
