import type { Log } from "../domain/ports/logger.port";
import type { MetricName, Metrics } from "../domain/ports/metrics.port";

export type DependencyState = "up" | "down";

/**
 * Tracks one dependency's state for this instance and speaks only on change: one log line when it
 * goes down or comes back, not one per failed request. The gauge is emitted on every report so the
 * alarm sees a steady signal (when the dependency has a gauge: the OTel collector has none, its
 * failures are counted instead). One small object per dependency: bounded.
 */
export class DependencyStatus {
  private state: DependencyState | undefined;

  constructor(
    private readonly name: string,
    private readonly metric: MetricName | undefined,
    private readonly log: Log,
    private readonly metrics: Metrics,
  ) {}

  get current(): DependencyState | undefined {
    return this.state;
  }

  report(state: DependencyState, detail?: Record<string, unknown>): void {
    if (this.metric) this.metrics.gauge(this.metric, state === "up" ? 1 : 0);
    if (state === this.state) return;
    const previous = this.state;
    this.state = state;
    if (previous === undefined && state === "up") return;
    const attrs = { dependency: this.name, from: previous ?? "unknown", to: state, ...detail };
    if (state === "down") this.log.warn("dependency state changed", attrs);
    else this.log.info("dependency state changed", attrs);
  }
}
