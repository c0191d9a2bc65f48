import type { IncomingMessage } from "node:http";
import { type ApiKeyScope, admit, CandorError, requireScope, verifyStreamToken } from "@candor/core";
import type { RealtimeCore } from "../realtime-core";

export interface Caller {
  tenantId: string;
  keyId: string;
}

/**
 * `Authorization: Bearer <key>` (scope checked, then the tenant's rate limit, which lands in the
 * response headers), or, where allowed, a stream token for this conversation (`?token=`, for
 * browsers' EventSource, which cannot send headers). A store failure is a 503, never a 401.
 */
export async function authenticateCaller(
  core: RealtimeCore,
  req: IncomingMessage,
  scope: ApiKeyScope,
  headers: Record<string, string>,
  token?: { value: string; conversationId: string },
  /** Estimated tokens of the request, for the tokens-per-minute limit (asked after authentication). */
  tokens?: () => Promise<number>,
): Promise<Caller> {
  if (token && req.headers.authorization === undefined) {
    const secret = core.config.streamTokenSecret;
    if (!secret)
      throw new CandorError("configuration_error", "Stream tokens are not configured (STREAM_TOKEN_SECRET)");
    const claims = verifyStreamToken(secret, token.value, token.conversationId);
    return { tenantId: claims.tenantId, keyId: claims.keyId };
  }
  const principal = await core.authenticate(req.headers.authorization);
  requireScope(principal, scope);
  await admit(core.rateLimiter, principal, headers, tokens ? await tokens() : undefined);
  return { tenantId: principal.tenantId, keyId: principal.keyId };
}
