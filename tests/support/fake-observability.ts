/**
 * Hand-written fakes of the Metrics and Log ports for unit tests: they record what the code under
 * test reported, so a test can assert on counts and gauges without stdout.
 */
import type { Log, LogAttributes, MetricName, Metrics } from "@candor/core";

export interface RecordingMetrics extends Metrics {
  /** Every gauge value reported, by name, in order. */
  gauges: Map<MetricName, number[]>;
}

export function recordingMetrics(): RecordingMetrics {
  const totals: Record<string, number> = {};
  const gauges = new Map<MetricName, number[]>();
  return {
    gauges,
    count(name, value = 1) {
      totals[name] = (totals[name] ?? 0) + value;
    },
    gauge(name, value) {
      totals[name] = value;
      gauges.set(name, [...(gauges.get(name) ?? []), value]);
    },
    timing(name, ms) {
      totals[name] = ms;
    },
    flush() {},
    totals: () => ({ ...totals }),
  };
}

export interface RecordingLog extends Log {
  lines: { level: string; message: string; attributes?: LogAttributes }[];
}

export function recordingLog(): RecordingLog {
  const lines: RecordingLog["lines"] = [];
  const at =
    (level: string) =>
    (message: string, attributes?: LogAttributes): void => {
      lines.push(attributes ? { level, message, attributes } : { level, message });
    };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
