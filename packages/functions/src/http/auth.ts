import { type ApiKeyPrincipal, type ApiKeyScope, admit, type Core, requireScope } from "@candor/core";
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
    await admit(
      core.rateLimiter,
      principal,
      ctx.headers,
      options.tokens ? await options.tokens(ctx) : undefined,
    );
    return fn(ctx, principal);
  };
}
