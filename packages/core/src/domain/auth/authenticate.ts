import { CandorError } from "../../errors";
import type { Cache } from "../ports/cache.port";
import type { Metrics } from "../ports/metrics.port";
import type { ApiKeyPrincipal, AuthStore } from "../ports/store.port";
import { type ApiKeyScope, hashApiKey, isWellFormedApiKey } from "./api-key";

export interface AuthenticateDeps {
  store: AuthStore;
  cache: Cache;
  metrics: Metrics;
  ttlSeconds: number;
}

/** Auth cache key: a version prefix and the key's sha-256, never the key itself. */
export const authCacheKey = (keyHash: string): string => `key:${keyHash}`;

/**
 * Bearer key → sha-256 → auth cache → on a miss one RPC. A cache failure is only a miss.
 * A store failure propagates as 503 (fail closed): never a 401, never an allow.
 */
export async function authenticate(
  authorization: string | undefined,
  deps: AuthenticateDeps,
): Promise<ApiKeyPrincipal> {
  if (!authorization)
    throw new CandorError("unauthenticated", "Missing API key: send Authorization: Bearer <key>");
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  const key = match?.[1];
  if (!key || !isWellFormedApiKey(key)) throw new CandorError("unauthenticated", "Malformed API key");
  const hash = hashApiKey(key);

  const cached = await deps.cache.get<ApiKeyPrincipal>(authCacheKey(hash));
  if (cached.status === "hit") return cached.value;

  let principal: ApiKeyPrincipal | null;
  try {
    principal = await deps.store.findActiveKey(hash);
  } catch (error) {
    deps.metrics.count("auth_validation_errors", 1);
    throw error;
  }
  if (!principal) throw new CandorError("unauthenticated", "Invalid or revoked API key");
  // after a failed read, a write would only pay the same timeout again
  if (cached.status !== "bypassed" || cached.reason === "noop") {
    await deps.cache.set(authCacheKey(hash), principal, deps.ttlSeconds);
  }
  return principal;
}

/** `admin` carries every scope. */
export function requireScope(principal: ApiKeyPrincipal, scope: ApiKeyScope): void {
  if (principal.scopes.includes(scope) || principal.scopes.includes("admin")) return;
  throw new CandorError("forbidden", `This API key lacks the ${scope} scope`);
}
