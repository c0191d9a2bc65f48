/**
 * The parts of the local Supabase endpoint that need no database: the SQLSTATE → HTTP table of
 * protocols.md B3 (PostgREST Error.hs `pgErrorStatus`) and JWT verification (Auth.hs: HS256, 30 s skew).
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  createLocalSupabaseKeys,
  PgrstError,
  pgErrorStatus,
  signSupabaseJwt,
  verifySupabaseJwt,
} from "../../infra/local/supabase";
import { toPgrstError } from "../../infra/local/supabase/errors";

describe("SQLSTATE → HTTP status (PostgREST pgErrorStatus)", () => {
  const table: Array<[code: string, status: number, message?: string]> = [
    ["08006", 503],
    ["08P01", 503],
    ["09000", 500],
    ["0L000", 403],
    ["0P000", 403],
    ["23503", 409],
    ["23505", 409],
    ["23502", 400],
    ["23514", 400],
    ["25006", 405],
    ["25001", 500],
    ["21000", 500],
    ["21000", 400, "UPDATE requires a WHERE clause"],
    ["28000", 403],
    ["2D000", 500],
    ["38000", 500],
    ["39000", 500],
    ["3B000", 500],
    ["40001", 500],
    ["53400", 500],
    ["53300", 503],
    ["54000", 500],
    ["55P03", 500],
    ["57P01", 503],
    ["57014", 500],
    ["58000", 500],
    ["F0000", 500],
    ["HV000", 500],
    ["P0001", 400],
    ["P0002", 500],
    ["XX000", 500],
    ["42883", 404],
    ["42P01", 404],
    ["42P17", 500],
    ["42703", 400],
    ["22P02", 400],
    ["22023", 400, "invalid value"],
    ["22023", 401, 'role "nobody" does not exist'],
    ["PT402", 402],
    ["PT418", 418],
  ];
  it.each(table)("%s → %i %s", (code, status, message = "") => {
    expect(pgErrorStatus(code, message, false)).toBe(status);
  });

  it("42501 is 401 for anon and 403 for any other role", () => {
    expect(pgErrorStatus("42501", "permission denied", true)).toBe(401);
    expect(pgErrorStatus("42501", "permission denied", false)).toBe(403);
  });

  it("database errors keep code, message, detail and hint; PT codes carry the message as reason phrase", () => {
    const error = toPgrstError(
      { code: "PT409", message: "already there", detail: "d", hint: undefined },
      false,
    );
    expect(error).toBeInstanceOf(PgrstError);
    expect(error.status).toBe(409);
    expect(error.statusText).toBe("already there");
    expect(error.body).toEqual({ code: "PT409", message: "already there", details: "d", hint: null });
  });

  it("RAISE SQLSTATE 'PGRST' takes status, headers and body from its JSON; bad JSON is 500 PGRST121", () => {
    const raised = toPgrstError(
      {
        code: "PGRST",
        message: '{"code":"X1","message":"m","details":"d","hint":"h"}',
        detail: '{"status":422,"status_text":"Nope","headers":{"X-A":"b"}}',
      },
      false,
    );
    expect(raised.status).toBe(422);
    expect(raised.statusText).toBe("Nope");
    expect(raised.headers).toEqual({ "X-A": "b" });
    expect(raised.body).toEqual({ code: "X1", message: "m", details: "d", hint: "h" });
    const broken = toPgrstError({ code: "PGRST", message: "not json", detail: "{}" }, false);
    expect(broken.status).toBe(500);
    expect(broken.body.code).toBe("PGRST121");
  });

  it("connection failures are 503, never a 4xx or an empty answer", () => {
    for (const code of ["ECONNREFUSED", "CONNECTION_CLOSED", "CONNECT_TIMEOUT", "3D000"]) {
      const error = toPgrstError(Object.assign(new Error("down"), { code }), false);
      expect(error.status, code).toBe(503);
      expect(error.body.code, code).toBe("PGRST000");
    }
  });
});

describe("JWT (HS256, PostgREST's 30 s clock skew)", () => {
  const secret = "a-secret-of-at-least-thirty-two-characters";
  const now = 1_800_000_000;

  it("verifies what it signs and returns the claims", () => {
    const token = signSupabaseJwt(secret, { role: "authenticated", sub: "u1", exp: now + 60 });
    expect(verifySupabaseJwt(secret, token, { nowSeconds: now })).toEqual({
      ok: true,
      claims: { role: "authenticated", sub: "u1", exp: now + 60 },
    });
  });

  it("accepts exp up to 30 s in the past, refuses beyond", () => {
    const token = signSupabaseJwt(secret, { role: "anon", exp: now });
    expect(verifySupabaseJwt(secret, token, { nowSeconds: now + 30 }).ok).toBe(true);
    expect(verifySupabaseJwt(secret, token, { nowSeconds: now + 31 })).toEqual({
      ok: false,
      reason: "JWT expired",
    });
    // the gateway checks the apikey's signature only
    expect(verifySupabaseJwt(secret, token, { nowSeconds: now + 31, checkTimes: false }).ok).toBe(true);
  });

  it("refuses another secret, a tampered payload, alg none and malformed tokens", () => {
    const token = signSupabaseJwt(secret, { role: "anon" });
    expect(verifySupabaseJwt(`${secret}x`, token).ok).toBe(false);
    const [header, , signature] = token.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ role: "service_role" })).toString("base64url");
    expect(verifySupabaseJwt(secret, `${header}.${forgedPayload}.${signature}`).ok).toBe(false);
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    expect(verifySupabaseJwt(secret, `${none}.${forgedPayload}.`).ok).toBe(false);
    expect(verifySupabaseJwt(secret, "abc").ok).toBe(false);
    expect(verifySupabaseJwt(secret, "a.b.c").ok).toBe(false);
  });

  it("accepts HS512 with the same secret", () => {
    const head = Buffer.from(JSON.stringify({ alg: "HS512", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify({ role: "authenticated" })).toString("base64url");
    const sig = createHmac("sha512", secret).update(`${head}.${body}`).digest("base64url");
    expect(verifySupabaseJwt(secret, `${head}.${body}.${sig}`)).toEqual({
      ok: true,
      claims: { role: "authenticated" },
    });
  });

  it("local keys are long-lived role JWTs, a pure function of the secret", () => {
    const keys = createLocalSupabaseKeys(secret);
    expect(createLocalSupabaseKeys(secret)).toEqual(keys);
    const anon = verifySupabaseJwt(secret, keys.anonKey);
    const service = verifySupabaseJwt(secret, keys.serviceRoleKey);
    expect(anon.ok && anon.claims).toMatchObject({ iss: "supabase-local", role: "anon" });
    expect(service.ok && service.claims).toMatchObject({ iss: "supabase-local", role: "service_role" });
    const exp = anon.ok ? Number(anon.claims.exp) : 0;
    expect(exp - Date.now() / 1000).toBeGreaterThan(5 * 365 * 24 * 3600);
  });
});
