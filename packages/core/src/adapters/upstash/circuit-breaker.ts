import type { DependencyStatus } from "../../observability/dependency-status";

export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long it stays open before one probe is let through. */
  openMs: number;
  status: DependencyStatus;
  now?: () => number;
}

/**
 * Per-instance circuit breaker around Upstash, shared by the rate limiter and the caches.
 * While open, calls are refused at once (no timeout paid per request); after `openMs` one call is
 * let through as a probe, and its outcome closes or re-opens the circuit.
 * Its state is this one small object per Lambda instance: nothing accumulates during an outage.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private probing = false;
  private readonly now: () => number;

  constructor(private readonly o: CircuitBreakerOptions) {
    this.now = o.now ?? Date.now;
  }

  get state(): "closed" | "open" | "half_open" {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt >= this.o.openMs ? "half_open" : "open";
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const state = this.state;
    if (state === "open" || (state === "half_open" && this.probing)) {
      this.o.status.report("down", { breaker: "open" });
      throw new CircuitOpenError("Redis circuit is open");
    }
    const probe = state === "half_open";
    if (probe) this.probing = true;
    try {
      const value = await fn();
      this.failures = 0;
      this.openedAt = undefined;
      this.o.status.report("up");
      return value;
    } catch (error) {
      this.failures++;
      if (probe || this.failures >= this.o.failureThreshold) this.openedAt = this.now();
      this.o.status.report("down", { breaker: this.openedAt === undefined ? "closed" : "open" });
      throw error;
    } finally {
      if (probe) this.probing = false;
    }
  }
}
