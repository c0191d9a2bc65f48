export type RateLimitMode = "enforced" | "bypassed";
export type RateLimitBypassReason = "noop" | "timeout" | "error" | "circuit_open";

/**
 * A limiter's answer is a value, degradation included: a limiter that cannot decide ALLOWS
 * (fail open) and says why.
 */
export interface RateLimitDecision {
  allowed: boolean;
  mode: RateLimitMode;
  reason?: RateLimitBypassReason;
  /** Which limit refused the request, when one did. */
  limitedBy?: "requests" | "tokens";
  limit?: number;
  remaining?: number;
  /** Unix ms when the window resets. */
  resetAt?: number;
}

export interface RateLimitRequest {
  tenantId: string;
  keyId: string;
  /** Limits from the tenant policy; an absent limit is not checked. */
  requestsPerMinute?: number | null;
  /** Requests per minute of this one API key (`keyId`), on top of the tenant's; absent: not checked. */
  keyRequestsPerMinute?: number | null;
  tokensPerMinute?: number | null;
  /** Estimated tokens of this request, for the tokens-per-minute limit. */
  tokens?: number;
}

export interface RateLimiter {
  readonly type: "upstash" | "noop";
  check(request: RateLimitRequest): Promise<RateLimitDecision>;
}
