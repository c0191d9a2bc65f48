import { type ApiKeyPrincipal, type ApiKeyScope, CandorError, type Core, requireScope } from "@candor/core";
import type { RequestContext, RouteHandler } from "./handler";

export type AuthedHandler = (ctx: RequestContext, principal: ApiKeyPrincipal) => ReturnType<RouteHandler>;

export interface AuthedOptions {
  /** Estimated tokens of this request for the tokens-per-minute limit. */
  tokens?: (ctx: RequestContext) => number;
}

/**
 * Authenticates the key, checks its scope, then asks the rate limiter. The limiter's answer lands
 * in the response headers either way (`X-RateLimit-Mode: enforced | bypassed`).
 */
export function authed(core: Core, scope: ApiKeyScope, fn: AuthedHandler, options: AuthedOptions = {}): RouteHandler {
  return async (ctx) => {
    const principal = await core.authenticate(ctx.event.headers.authorization);
    core.log.appendKeys({ tenant_id: principal.tenantId });
    requireScope(principal, scope);
    const decision = await core.rateLimiter.check({
      tenantId: principal.tenantId,
      keyId: principal.keyId,
      requestsPerMinute: principal.requestsPerMinute,
      tokensPerMinute: principal.tokensPerMinute,
      ...(options.tokens ? { tokens: options.tokens(ctx) } : {}),
    });
    ctx.headers["x-ratelimit-mode"] = decision.mode;
    if (decision.limit !== undefined && decision.resetAt !== undefined) {
      const resetSeconds = Math.max(0, Math.ceil((decision.resetAt - Date.now()) / 1000));
      ctx.headers["ratelimit-limit"] = String(decision.limit);
      ctx.headers["ratelimit-remaining"] = String(Math.max(0, decision.remaining ?? 0));
      ctx.headers["ratelimit-reset"] = String(resetSeconds);
      if (!decision.allowed) {
        throw new CandorError(
          "rate_limited",
          decision.limitedBy === "tokens"
            ? `Tokens-per-minute limit of ${decision.limit} reached`
            : `Requests-per-minute limit of ${decision.limit} reached`,
          { retryAfterSeconds: Math.max(1, resetSeconds), details: { limit: decision.limitedBy ?? "requests" } },
        );
      }
    }
    return fn(ctx, principal);
  };
}
