import type { MetricName, Metrics, MetricUnit } from "@candor/core";

/**
 * The realtime service's metric names: core's closed list plus the ones only this service emits.
 * The extra names go through core's EMF writer unchanged; the one cast below is where they cross,
 * until they join core's MetricName list.
 */
export type RealtimeMetricName =
  | MetricName
  | "sse_subscribers"
  | "sse_events_delivered"
  | "sse_slow_disconnects"
  | "sse_capacity_rejections"
  | "sse_replay_events"
  | "listen_connection_status"
  | "listen_connection_lost"
  | "event_fetch_failures"
  | "graph_event_out_of_order"
  | "e2b_sandboxes"
  | "e2b_executions"
  | "e2b_execution_duration";

export interface RealtimeMetrics {
  count(name: RealtimeMetricName, value?: number, dimensions?: Record<string, string>): void;
  gauge(
    name: RealtimeMetricName,
    value: number,
    unit?: MetricUnit,
    dimensions?: Record<string, string>,
  ): void;
  timing(name: RealtimeMetricName, ms: number, dimensions?: Record<string, string>): void;
  flush(): void;
}

export const realtimeMetrics = (metrics: Metrics): RealtimeMetrics => metrics as unknown as RealtimeMetrics;
