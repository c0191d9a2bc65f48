/**
 * The local Supabase endpoint: PostgREST's RPC and table-read semantics over a `SqlDatabase`,
 * so the real `@supabase/supabase-js` runs against real PostgreSQL (or PGlite) offline.
 * Conformance: tests/conformance/supabase.test.ts (reference/protocols.md C2, C3).
 */

export type { PgrstErrorBody } from "./errors";
export { PgrstError, pgErrorStatus } from "./errors";
export type { JwtClaims, JwtVerification, LocalSupabaseKeys } from "./jwt";
export { createLocalSupabaseKeys, signSupabaseJwt, verifySupabaseJwt } from "./jwt";
export type { LocalSupabase, LocalSupabaseOptions } from "./server";
export { startLocalSupabase } from "./server";
