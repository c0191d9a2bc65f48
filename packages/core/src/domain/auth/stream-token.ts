import { createHmac, timingSafeEqual } from "node:crypto";
import { CandorError } from "../../errors";

/** Browsers' EventSource cannot send headers: a short-lived token in the URL stands in for the key. */
export const STREAM_TOKEN_MAX_SECONDS = 300;

export interface StreamTokenClaims {
  tenantId: string;
  conversationId: string;
  keyId: string;
  /** Unix seconds. */
  expiresAt: number;
}

const sign = (secret: string, payload: string) =>
  createHmac("sha256", secret).update(payload).digest("base64url");

/** `<payload>.<hmac>`: HMAC-SHA256 over the base64url JSON payload; scoped to one tenant and conversation. */
export function issueStreamToken(
  secret: string,
  claims: Omit<StreamTokenClaims, "expiresAt">,
  now = Date.now(),
  ttlSeconds = STREAM_TOKEN_MAX_SECONDS,
): { token: string; expiresAt: Date } {
  const exp = Math.floor(now / 1000) + Math.min(ttlSeconds, STREAM_TOKEN_MAX_SECONDS);
  const payload = Buffer.from(
    JSON.stringify({ t: claims.tenantId, c: claims.conversationId, k: claims.keyId, exp }),
  ).toString("base64url");
  return { token: `${payload}.${sign(secret, payload)}`, expiresAt: new Date(exp * 1000) };
}

/** Throws `unauthenticated` for a token that is malformed, forged, expired or for another conversation. */
export function verifyStreamToken(
  secret: string,
  token: string,
  conversationId: string,
  now = Date.now(),
): StreamTokenClaims {
  const [payload, mac, extra] = token.split(".");
  const bad = () => new CandorError("unauthenticated", "Invalid or expired stream token");
  if (!payload || !mac || extra !== undefined || payload.length > 1024) throw bad();
  const expected = Buffer.from(sign(secret, payload));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw bad();
  let claims: { t?: unknown; c?: unknown; k?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (
    typeof claims.t !== "string" ||
    typeof claims.c !== "string" ||
    typeof claims.k !== "string" ||
    typeof claims.exp !== "number"
  ) {
    throw bad();
  }
  if (claims.exp * 1000 <= now || claims.c !== conversationId) throw bad();
  return { tenantId: claims.t, conversationId: claims.c, keyId: claims.k, expiresAt: claims.exp };
}
