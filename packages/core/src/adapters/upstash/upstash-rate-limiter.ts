import { Ratelimit } from "@upstash/ratelimit";
import type { Redis } from "@upstash/redis";
import { LRUCache } from "lru-cache";
import type { Metrics } from "../../domain/ports/metrics.port";
import type { RateLimitDecision, RateLimiter, RateLimitRequest } from "../../domain/ports/rate-limiter.port";
import { withSpan } from "../../observability/tracing";
import type { CircuitBreaker } from "./circuit-breaker";
import { failureReason, RedisTimeoutError } from "./failure-reason";

/**
 * The commands @upstash/ratelimit sends for a sliding window: EVALSHA, and EVAL after a NOSCRIPT
 * (its type says `Pick<Redis, "evalsha" | "get" | "set">`, its `safeEval` also calls `eval`).
 */
export type LimiterRedis = Pick<Redis, "evalsha" | "eval" | "get" | "set">;

/** Distinct limit settings (kind × limit value) whose Ratelimit object is kept per instance. */
export const MAX_LIMITERS = 256;

export interface UpstashRateLimiterOptions {
  /** A client with `automaticDeserialization: true` and no retries (a limit call is not idempotent). */
  redis: LimiterRedis;
  breaker: CircuitBreaker;
  metrics: Metrics;
  /**
   * Key prefix, e.g. "candor:rl". Keys: `<prefix>:req:tenant:<tenant>:<minute>`,
   * `<prefix>:req:key:<key id>:<minute>` (sliding windows), `<prefix>:tok:tenant:<tenant>` (bucket).
   */
  prefix: string;
  /** @upstash/ratelimit's own deadline for one `limit()`, EVALSHA→NOSCRIPT→EVAL included. */
  timeoutMs: number;
  /** Bound of the limiter-object LRU; defaults to MAX_LIMITERS. */
  maxLimiters?: number;
}

type LimitResponse = Awaited<ReturnType<Ratelimit["limit"]>>;

interface Check {
  by: "requests" | "tokens";
  kind: "req" | "tok";
  limit: number;
  identifier: string;
  rate: number;
}

const finite = (n: unknown): boolean => typeof n === "number" && Number.isFinite(n);
const wellFormed = (r: LimitResponse): boolean =>
  typeof r.success === "boolean" && finite(r.limit) && finite(r.remaining) && finite(r.reset);

/**
 * When a refused request may pass. The sliding window's `reset` is the end of its window. The token
 * bucket's is its next one-second refill, too early for a request that needs more than one
 * second's worth: by `rate / (limit / 60)` seconds enough has been refilled (a minute at most; a
 * request over the whole per-minute limit never fits, and 60 s is the honest answer).
 */
function retryAt(check: Check, r: LimitResponse): number {
  if (check.kind === "req") return r.reset;
  const refillSeconds = Math.min(60, Math.ceil((check.rate * 60) / check.limit));
  return Math.max(r.reset, Date.now() + refillSeconds * 1000);
}

const positiveInt = (n: number | null | undefined): n is number =>
  typeof n === "number" && Number.isFinite(n) && n >= 1;

/**
 * Limits over Upstash (@upstash/ratelimit): requests per minute per tenant and per API key (sliding
 * windows), tokens per minute per tenant (a token bucket, see `limiter`). The counts live in Redis
 * only, so every instance of every function shares them. The checks of one request run in parallel
 * (one EVALSHA each, one round trip of latency).
 *
 * Fails OPEN: a timeout, an error, a rejected `limit()` or an open circuit allows the request, says
 * why (`reason`), and counts rate_limit_bypass_count. It never throws.
 */
export class UpstashRateLimiter implements RateLimiter {
  readonly type = "upstash" as const;
  /**
   * One Ratelimit object per distinct (kind, limit) pair, built once and reused across requests.
   * Bounded local optimization: at most `maxLimiters` (256) settings per instance, least recently
   * used evicted; an evicted one is simply rebuilt. They hold no counts (ephemeralCache is off), so
   * eviction loses nothing and two instances never disagree.
   */
  private readonly limiters: LRUCache<string, Ratelimit>;

  constructor(private readonly o: UpstashRateLimiterOptions) {
    this.limiters = new LRUCache<string, Ratelimit>({ max: o.maxLimiters ?? MAX_LIMITERS });
  }

  /** How many limiter objects this instance holds (tests check the bound). */
  get limiterCount(): number {
    return this.limiters.size;
  }

  private limiter(kind: Check["kind"], limit: number): Ratelimit {
    const id = `${kind}:${limit}`;
    let rl = this.limiters.get(id);
    if (!rl) {
      rl = new Ratelimit({
        redis: this.o.redis,
        // Requests: a sliding window of one minute. Tokens: a bucket of `limit` tokens refilled at
        // limit/60 per second. Not the sliding window there: its script charges a request that
        // overdraws (rate > 1) even as it refuses it, so one large request would lock the tenant out
        // for up to two minutes; the bucket's script refuses without charging.
        limiter:
          kind === "req"
            ? Ratelimit.slidingWindow(limit, "60 s")
            : Ratelimit.tokenBucket(limit / 60, "1 s", limit),
        // the limit is not in the key: a tenant whose limit changes keeps its current count
        prefix: `${this.o.prefix}:${kind}`,
        // a slow Redis resolves `{success: true, reason: "timeout"}` after this; mapped below
        timeout: this.o.timeoutMs,
        // no in-memory deny cache: it would be per-instance state standing in for Redis
        ephemeralCache: false,
        analytics: false,
        enableProtection: false,
      });
      this.limiters.set(id, rl);
    }
    return rl;
  }

  private plan(req: RateLimitRequest): Check[] {
    const checks: Check[] = [];
    if (positiveInt(req.requestsPerMinute)) {
      checks.push({
        by: "requests",
        kind: "req",
        limit: Math.floor(req.requestsPerMinute),
        identifier: `tenant:${req.tenantId}`,
        rate: 1,
      });
    }
    if (positiveInt(req.keyRequestsPerMinute)) {
      checks.push({
        by: "requests",
        kind: "req",
        limit: Math.floor(req.keyRequestsPerMinute),
        identifier: `key:${req.keyId}`,
        rate: 1,
      });
    }
    if (positiveInt(req.tokensPerMinute) && typeof req.tokens === "number" && req.tokens > 0) {
      checks.push({
        by: "tokens",
        kind: "tok",
        limit: Math.floor(req.tokensPerMinute),
        identifier: `tenant:${req.tenantId}`,
        rate: Math.ceil(req.tokens),
      });
    }
    return checks;
  }

  async check(req: RateLimitRequest): Promise<RateLimitDecision> {
    this.o.metrics.count("rate_limit_checks_per_second", 1);
    const checks = this.plan(req);
    // nothing to enforce: the tenant has no limits, Redis is not asked
    if (checks.length === 0) return { allowed: true, mode: "enforced" };

    let results: LimitResponse[];
    try {
      // the checks run in parallel: one round trip of latency, all inside one breaker call
      results = await this.o.breaker.run(async () => {
        const rs = await Promise.all(checks.map((c) => this.run(c, c.rate)));
        if (rs.some((r) => r.reason === "timeout")) {
          throw new RedisTimeoutError(`rate limiter got no answer within ${this.o.timeoutMs} ms`);
        }
        // an answer that is not the script's numbers (a proxy's garbage 200) must not become a 429
        if (!rs.every(wellFormed)) throw new Error("rate limiter got a malformed answer from Redis");
        return rs;
      });
    } catch (error) {
      // fail open: a broken limiter must not take the API down (ARCHITECTURE.md)
      this.o.metrics.count("rate_limit_bypass_count", 1);
      return { allowed: true, mode: "bypassed", reason: failureReason(error) };
    }

    const outcomes = checks.map((check, i) => ({ check, r: results[i] as LimitResponse }));
    const denied = outcomes.filter((x) => !x.r.success);
    if (denied.length === 0) {
      // the headers describe the limit closest to exhaustion, relative to its size
      const used = (x: (typeof outcomes)[number]) => x.r.remaining / Math.max(1, x.r.limit);
      const tightest = outcomes.reduce((a, b) => (used(b) < used(a) ? b : a));
      return {
        allowed: true,
        mode: "enforced",
        limit: tightest.r.limit,
        remaining: tightest.r.remaining,
        resetAt: tightest.r.reset,
      };
    }
    // a refused request must not use up the other limits it passed (a client retrying after a 429
    // on requests would otherwise also burn its tokens budget)
    await this.refund(outcomes.filter((x) => x.r.success).map((x) => x.check));
    // Retry-After must cover every limit that refused: report the one that frees up last
    const binding = denied
      .map((x) => ({ ...x, resetAt: retryAt(x.check, x.r) }))
      .reduce((a, b) => (b.resetAt > a.resetAt ? b : a));
    return {
      allowed: false,
      mode: "enforced",
      limitedBy: binding.check.by,
      limit: binding.r.limit,
      remaining: 0,
      resetAt: binding.resetAt,
    };
  }

  private run(check: Check, rate: number): Promise<LimitResponse> {
    return withSpan("upstash ratelimit", { "db.system.name": "redis", "candor.limit": check.kind }, () =>
      this.limiter(check.kind, check.limit).limit(check.identifier, rate === 1 ? undefined : { rate }),
    );
  }

  /** Best effort: a refund that fails leaves the count one request (or N tokens) high for a window. */
  private async refund(checks: Check[]): Promise<void> {
    if (checks.length === 0) return;
    try {
      await this.o.breaker.run(() => Promise.all(checks.map((c) => this.run(c, -c.rate))));
    } catch {
      // the 429 stands either way; the breaker has recorded the failure
    }
  }
}
