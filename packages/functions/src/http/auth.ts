import { type ApiKeyPrincipal, type ApiKeyScope, CandorError, type Core, requireScope } from "@candor/core";
import type { RequestContext, RouteHandler } from "./handler";

export type AuthedHandler = (ctx: RequestContext, principal: ApiKeyPrincipal) => ReturnType<RouteHandler>;

export interface AuthedOptions {
  /** Estimated tokens of this request for the tokens-per-minute limit. */
  tokens?: (ctx: RequestContext) => number | Promise<number>;
}

/**
 * Authenticates the key, checks its scope, then asks the rate limiter. The limiter's answer lands
 * in the response headers either way (`X-RateLimit-Mode: enforced | bypassed`).
 */
export function authed(
  core: Core,
  scope: ApiKeyScope,
  fn: AuthedHandler,
  options: AuthedOptions = {},
): RouteHandler {
  return async (ctx) => {
    const principal = await core.authenticate(ctx.event.headers.authorization);
    core.log.appendKeys({ tenant_id: principal.tenantId });
    requireScope(principal, scope);
    const decision = await core.rateLimiter.check({
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      requestsPerMinute: principal.requestsPerMinute,
      tokensPerMinute: principal.tokensPerMinute,
      keyRequestsPerMinute: principal.keyRequestsPerMinute,
      ...(options.tokens ? { tokens: await options.tokens(ctx) } : {}),
    });
    ctx.headers["x-ratelimit-mode"] = decision.mode;
    // seconds until the window resets; at least 1 on a refusal, so Retry-After is never 0
    let resetSeconds: number | undefined;
    if (decision.limit !== undefined && decision.resetAt !== undefined) {
      resetSeconds = Math.max(0, Math.ceil((decision.resetAt - Date.now()) / 1000));
      ctx.headers["ratelimit-limit"] = String(decision.limit);
      ctx.headers["ratelimit-remaining"] = String(
        decision.allowed ? Math.max(0, decision.remaining ?? 0) : 0,
      );
      ctx.headers["ratelimit-reset"] = String(decision.allowed ? resetSeconds : Math.max(1, resetSeconds));
    }
    if (!decision.allowed) {
      // the body says which limit refused: requests or tokens per minute
      const which = decision.limitedBy ?? "requests";
      const limit = decision.limit === undefined ? "" : ` (limit ${decision.limit})`;
      throw new CandorError(
        "rate_limited",
        `Rate limit reached: ${which === "tokens" ? "tokens" : "requests"} per minute${limit}`,
        // a refusal without a reset time (not produced by our adapters) still tells the client to wait
        { retryAfterSeconds: Math.max(1, resetSeconds ?? 60), details: { limit: which } },
      );
    }
    return fn(ctx, principal);
  };
}
