import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis";
import { LRUCache } from "lru-cache";
import type { Metrics } from "../../domain/ports/metrics.port";
import type { RateLimitDecision, RateLimiter, RateLimitRequest } from "../../domain/ports/rate-limiter.port";
import type { CircuitBreaker } from "./circuit-breaker";
import { failureReason } from "./failure-reason";

export interface UpstashRateLimiterOptions {
  redis: Redis;
  breaker: CircuitBreaker;
  metrics: Metrics;
  /** Key prefix, e.g. "candor:rl". */
  prefix: string;
  timeoutMs: number;
}

/**
 * Sliding-window limits per tenant and per API key over Upstash. Fails OPEN: a timeout, an error or
 * an open circuit allows the request, says why, and counts rate_limit_bypass_count.
 */
export class UpstashRateLimiter implements RateLimiter {
  readonly type = "upstash" as const;
  /**
   * One Ratelimit object per distinct (kind, limit) pair, reused across requests. Bounded local
   * optimization: at most 256 distinct limit settings per instance; an evicted one is rebuilt (it
   * holds no counts, the counts live in Redis).
   */
  private readonly limiters = new LRUCache<string, Ratelimit>({ max: 256 });

  constructor(private readonly o: UpstashRateLimiterOptions) {}

  private limiter(kind: "req" | "tok", limit: number): Ratelimit {
    const id = `${kind}:${limit}`;
    let rl = this.limiters.get(id);
    if (!rl) {
      rl = new Ratelimit({
        redis: this.o.redis,
        limiter: Ratelimit.slidingWindow(limit, "60 s"),
        prefix: `${this.o.prefix}:${kind}:${limit}`,
        timeout: this.o.timeoutMs,
        // no in-memory deny cache: it would be per-instance state standing in for Redis
        ephemeralCache: false,
        analytics: false,
      });
      this.limiters.set(id, rl);
    }
    return rl;
  }

  async check(req: RateLimitRequest): Promise<RateLimitDecision> {
    this.o.metrics.count("rate_limit_checks_per_second", 1);
    const checks: { by: "requests" | "tokens"; run: () => ReturnType<Ratelimit["limit"]> }[] = [];
    if (req.requestsPerMinute) {
      const rpm = req.requestsPerMinute;
      checks.push({ by: "requests", run: () => this.limiter("req", rpm).limit(`tenant:${req.tenantId}`) });
    }
    if (req.tokensPerMinute && req.tokens && req.tokens > 0) {
      const tpm = req.tokensPerMinute;
      const tokens = req.tokens;
      checks.push({
        by: "tokens",
        run: () => this.limiter("tok", tpm).limit(`tenant:${req.tenantId}`, { rate: tokens }),
      });
    }
    if (checks.length === 0) return { allowed: true, mode: "enforced" };
    try {
      const results = await this.o.breaker.run(async () => {
        const rs = await Promise.all(checks.map((c) => c.run()));
        // @upstash/ratelimit resolves success:true with reason "timeout" when Redis is slow
        if (rs.some((r) => r.reason === "timeout")) throw new Error("rate limiter timeout");
        return rs;
      });
      let decision: RateLimitDecision = { allowed: true, mode: "enforced" };
      results.forEach((r, i) => {
        const by = checks[i]?.by ?? "requests";
        const tighter = decision.remaining === undefined || r.remaining < decision.remaining;
        if (!r.success && decision.allowed) {
          decision = { allowed: false, mode: "enforced", limitedBy: by, limit: r.limit, remaining: 0, resetAt: r.reset };
        } else if (decision.allowed && tighter) {
          decision = { allowed: true, mode: "enforced", limit: r.limit, remaining: r.remaining, resetAt: r.reset };
        }
      });
      return decision;
    } catch (error) {
      // fail open: a broken limiter must not take the API down (ARCHITECTURE.md)
      this.o.metrics.count("rate_limit_bypass_count", 1);
      return { allowed: true, mode: "bypassed", reason: failureReason(error) };
    }
  }
}
