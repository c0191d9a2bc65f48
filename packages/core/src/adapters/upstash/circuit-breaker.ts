import type { DependencyStatus } from "../../observability/dependency-status";

export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";
}

export interface CircuitBreakerOptions {
  /** Failures among the last `window` calls that open the circuit. */
  failureThreshold: number;
  /**
   * How many recent outcomes are remembered. `failureThreshold` of them failing opens the circuit:
   * with the defaults (5 of 10) that is five failures in a row or a 50 % failure rate. Defaults to
   * `failureThreshold` (consecutive failures only); must not be below it.
   */
  window?: number;
  /** How long it stays open before it probes Redis again. */
  openMs: number;
  /**
   * The probe, run in the background (e.g. a PING with the request-path timeout). With it, no request
   * ever waits on a probe: the call that finds the circuit due for a probe is refused like the
   * others and starts it. Without it, that call itself is the probe and pays its latency.
   */
  probe?: () => Promise<unknown>;
  status: DependencyStatus;
  now?: () => number;
}

export type CircuitState = "closed" | "open" | "half_open";

/**
 * Per-instance circuit breaker around Upstash, shared by the rate limiter and the caches.
 *
 * - closed: calls go through; their outcomes fill a fixed ring of the last `window` results, and
 *   `failureThreshold` failures in it open the circuit.
 * - open: calls are refused at once with CircuitOpenError, so no request pays the Redis timeout;
 *   the callers fail open (limiter) or through (caches).
 * - half open (after `openMs`): one probe at a time, the calls are still refused; the probe's success
 *   closes the circuit, its failure re-opens it for another `openMs`. With a `probe` function the
 *   probe runs in the background, started by the first call that finds the circuit half open: once
 *   the circuit is open, no request pays a Redis timeout, probes included. (In Lambda a background
 *   probe still in flight when the invocation ends is frozen with the instance; a PING to a healthy
 *   Upstash takes a few ms, far less than the rest of the request, and a frozen probe only fails and
 *   waits another `openMs`.)
 *
 * A call that started in an earlier state (before the circuit opened, or before it closed) does not
 * move the state when it finishes late: only calls of the current state decide.
 * Its state is this one small object per Lambda instance (a ring of `window` bytes and a few
 * numbers): nothing accumulates during an outage, and it is per-instance by nature.
 */
export class CircuitBreaker {
  /** Bounded: `window` outcomes, 1 = failed, overwritten in a ring. */
  private readonly outcomes: Uint8Array;
  private next = 0;
  private recorded = 0;
  private failures = 0;
  private openedAt: number | undefined;
  private probeStartedAt: number | undefined;
  /** Bumped on every open and close, so late outcomes of an earlier state are ignored. */
  private generation = 0;
  private readonly now: () => number;
  private readonly threshold: number;

  constructor(private readonly o: CircuitBreakerOptions) {
    this.now = o.now ?? Date.now;
    this.threshold = Math.max(1, Math.floor(o.failureThreshold));
    const window = Math.floor(o.window ?? this.threshold);
    if (window < this.threshold) {
      throw new RangeError(
        `circuit breaker window (${window}) is smaller than its failure threshold (${this.threshold})`,
      );
    }
    this.outcomes = new Uint8Array(window);
  }

  get state(): CircuitState {
    if (this.openedAt === undefined) return "closed";
    return this.now() - this.openedAt >= this.o.openMs ? "half_open" : "open";
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const now = this.now();
    if (this.openedAt !== undefined) {
      const halfOpen = now - this.openedAt >= this.o.openMs;
      // a probe that never settled (it cannot: every call has a timeout) is not waited on forever
      const probing = this.probeStartedAt !== undefined && now - this.probeStartedAt < this.o.openMs;
      if (halfOpen && !probing) {
        if (!this.o.probe) return this.probe(fn, now);
        this.probeInBackground(this.o.probe, now);
      }
      this.o.status.report("down", { breaker: "open" });
      throw new CircuitOpenError("Redis circuit is open");
    }
    const generation = this.generation;
    try {
      const value = await fn();
      if (generation === this.generation) {
        this.record(false);
        this.o.status.report("up");
      }
      return value;
    } catch (error) {
      if (generation === this.generation) {
        this.record(true);
        if (this.failures >= this.threshold) this.open();
      }
      // one failed call is not Redis down: the status (log line, gauge 0) follows the circuit
      if (this.openedAt !== undefined) this.o.status.report("down", { breaker: "open" });
      throw error;
    }
  }

  private async probe<T>(fn: () => Promise<T>, now: number): Promise<T> {
    this.probeStartedAt = now;
    const generation = this.generation;
    try {
      const value = await fn();
      if (generation === this.generation) {
        this.close();
        this.o.status.report("up", { breaker: "closed" });
      }
      return value;
    } catch (error) {
      if (generation === this.generation) this.open();
      this.o.status.report("down", { breaker: "open" });
      throw error;
    }
  }

  private probeInBackground(probe: () => Promise<unknown>, now: number): void {
    this.probeStartedAt = now;
    const generation = this.generation;
    let pending: Promise<unknown>;
    try {
      pending = probe();
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      () => {
        if (generation !== this.generation) return;
        this.close();
        this.o.status.report("up", { breaker: "closed" });
      },
      () => {
        if (generation === this.generation) this.open();
        this.o.status.report("down", { breaker: "open" });
      },
    );
  }

  private record(failed: boolean): void {
    const slot = this.next;
    if (this.recorded === this.outcomes.length) this.failures -= this.outcomes[slot] ?? 0;
    else this.recorded++;
    this.outcomes[slot] = failed ? 1 : 0;
    if (failed) this.failures++;
    this.next = (slot + 1) % this.outcomes.length;
  }

  private open(): void {
    this.generation++;
    this.openedAt = this.now();
    this.probeStartedAt = undefined;
  }

  private close(): void {
    this.generation++;
    this.openedAt = undefined;
    this.probeStartedAt = undefined;
    this.outcomes.fill(0);
    this.next = 0;
    this.recorded = 0;
    this.failures = 0;
  }
}
