import type { RateLimitDecision, RateLimiter, RateLimitRequest } from "../../domain/ports/rate-limiter.port";

/** Chosen at cold start when Redis is not configured or the limiter is switched off: always allows. */
export class NoOpRateLimiter implements RateLimiter {
  readonly type = "noop" as const;
  async check(_request: RateLimitRequest): Promise<RateLimitDecision> {
    return { allowed: true, mode: "bypassed", reason: "noop" };
  }
}
