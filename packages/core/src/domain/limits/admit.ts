import { CandorError } from "../../errors";
import type { RateLimiter } from "../ports/rate-limiter.port";
import type { ApiKeyPrincipal } from "../ports/store.port";

/**
 * Asks the rate limiter about an authenticated caller and writes its answer into the response
 * headers (API.md: `X-RateLimit-Mode` always, `RateLimit-*` when a limiter decided). Throws 429
 * saying which limit refused. Shared by the Lambda handlers and the realtime service.
 */
export async function admit(
  rateLimiter: RateLimiter,
  principal: ApiKeyPrincipal,
  headers: Record<string, string>,
  tokens?: number,
): Promise<void> {
  const decision = await rateLimiter.check({
    tenantId: principal.tenantId,
    keyId: principal.keyId,
    requestsPerMinute: principal.requestsPerMinute,
    tokensPerMinute: principal.tokensPerMinute,
    keyRequestsPerMinute: principal.keyRequestsPerMinute,
    ...(tokens !== undefined ? { tokens } : {}),
  });
  headers["x-ratelimit-mode"] = decision.mode;
  // seconds until the window resets; at least 1 on a refusal, so Retry-After is never 0
  let resetSeconds: number | undefined;
  if (decision.limit !== undefined && decision.resetAt !== undefined) {
    resetSeconds = Math.max(0, Math.ceil((decision.resetAt - Date.now()) / 1000));
    headers["ratelimit-limit"] = String(decision.limit);
    headers["ratelimit-remaining"] = String(decision.allowed ? Math.max(0, decision.remaining ?? 0) : 0);
    headers["ratelimit-reset"] = String(decision.allowed ? resetSeconds : Math.max(1, resetSeconds));
  }
  if (!decision.allowed) {
    const which = decision.limitedBy === "tokens" ? "tokens" : "requests";
    const limit = decision.limit === undefined ? "" : ` (limit ${decision.limit})`;
    throw new CandorError("rate_limited", `Rate limit reached: ${which} per minute${limit}`, {
      // a refusal without a reset time (not produced by our adapters) still tells the client to wait
      retryAfterSeconds: Math.max(1, resetSeconds ?? 60),
      details: { limit: which },
    });
  }
}
