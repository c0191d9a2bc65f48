import { createHmac, timingSafeEqual } from "node:crypto";

/** HMAC algorithms PostgREST accepts with a shared secret (the Supabase legacy JWT secret). */
const HMAC = { HS256: "sha256", HS384: "sha384", HS512: "sha512" } as const;

/** PostgREST allows 30 s of clock skew on `exp`, `nbf` and `iat` (Auth.hs). */
const CLOCK_SKEW_SECONDS = 30;

export type JwtClaims = Record<string, unknown>;

export type JwtVerification = { ok: true; claims: JwtClaims } | { ok: false; reason: string };

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decodeSegment(segment: string): unknown {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Signs `claims` as an HS256 JWT with `secret`, the way Supabase mints its legacy keys. */
export function signSupabaseJwt(secret: string, claims: JwtClaims): string {
  const signingInput = `${encodeSegment({ alg: "HS256", typ: "JWT" })}.${encodeSegment(claims)}`;
  const signature = createHmac("sha256", secret).update(signingInput).digest("base64url");
  return `${signingInput}.${signature}`;
}

/**
 * Verifies an HS256/384/512 JWT. `checkTimes: false` checks the signature only (what Supabase's
 * gateway does with the `apikey` header); PostgREST checks `exp`/`nbf`/`iat` with a 30 s skew.
 */
export function verifySupabaseJwt(
  secret: string,
  token: string,
  options: { nowSeconds?: number; checkTimes?: boolean } = {},
): JwtVerification {
  const parts = token.split(".");
  if (parts.length !== 3) return { ok: false, reason: `Expected 3 parts in JWT; got ${parts.length}` };
  const [headerPart = "", payloadPart = "", signaturePart = ""] = parts;
  let header: unknown;
  let claims: unknown;
  try {
    header = decodeSegment(headerPart);
    claims = decodeSegment(payloadPart);
  } catch {
    return { ok: false, reason: "JWT cryptographic operation failed" };
  }
  if (!isRecord(header) || !isRecord(claims))
    return { ok: false, reason: "JWT cryptographic operation failed" };
  const alg = header.alg;
  if (alg !== "HS256" && alg !== "HS384" && alg !== "HS512") {
    // `none` and asymmetric algorithms are refused: only the shared secret is configured
    return { ok: false, reason: "Wrong or unsupported encoding algorithm" };
  }
  const expected = createHmac(HMAC[alg], secret).update(`${headerPart}.${payloadPart}`).digest();
  const given = Buffer.from(signaturePart, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, reason: "JWT cryptographic operation failed" };
  }
  if (options.checkTimes !== false) {
    const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
    const { exp, nbf, iat } = claims;
    for (const [name, value] of [
      ["exp", exp],
      ["nbf", nbf],
      ["iat", iat],
    ] as const) {
      if (value !== undefined && typeof value !== "number") {
        return { ok: false, reason: `The JWT '${name}' claim must be a number` };
      }
    }
    if (typeof exp === "number" && now - CLOCK_SKEW_SECONDS > exp)
      return { ok: false, reason: "JWT expired" };
    if (typeof nbf === "number" && now + CLOCK_SKEW_SECONDS < nbf)
      return { ok: false, reason: "JWT not yet valid" };
    if (typeof iat === "number" && now + CLOCK_SKEW_SECONDS < iat)
      return { ok: false, reason: "JWT issued at future" };
  }
  return { ok: true, claims };
}

export interface LocalSupabaseKeys {
  anonKey: string;
  serviceRoleKey: string;
}

// Fixed timestamps make the keys a pure function of the secret, so a config file can hold them.
const KEY_ISSUED_AT = 1735689600; // 2025-01-01T00:00:00Z
const KEY_EXPIRES_AT = 2051222400; // 2035-01-01T00:00:00Z

/** The legacy anon and service_role API keys for `secret`: long-lived JWTs carrying only a role. */
export function createLocalSupabaseKeys(secret: string): LocalSupabaseKeys {
  const sign = (role: string) =>
    signSupabaseJwt(secret, { iss: "supabase-local", role, iat: KEY_ISSUED_AT, exp: KEY_EXPIRES_AT });
  return { anonKey: sign("anon"), serviceRoleKey: sign("service_role") };
}
