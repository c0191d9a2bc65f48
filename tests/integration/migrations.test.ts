import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../../infra/local/db/migrate";
import { createPGliteDatabase } from "../../infra/local/db/pglite-database";
import { createPostgresDatabase } from "../../infra/local/db/postgres-database";
import type { SqlDatabase } from "../../infra/local/db/sql-database";
import { hasPostgres } from "../support/requires";
import { createScratchDatabase } from "../support/scratch-database";

const TABLES = [
  "tenants",
  "tenant_policies",
  "api_keys",
  "model_pricing",
  "contexts",
  "conversations",
  "conversation_contexts",
  "messages",
  "paths",
  "turns",
  "cost_events",
  "tenant_spend",
  "graph_events",
  "sandbox_sessions",
];

async function checkSchema(db: SqlDatabase) {
  const first = await migrate(db);
  const all = await loadMigrations();
  expect(first.applied).toHaveLength(all.length);
  const second = await migrate(db);
  expect(second.applied).toEqual([]);
  expect(second.skipped).toHaveLength(all.length);

  const rls = await db.query<{ relname: string; relrowsecurity: boolean }>(
    `select relname, relrowsecurity from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and relkind = 'r' order by relname`,
  );
  expect(rls.map((r) => r.relname).sort()).toEqual([...TABLES].sort());
  expect(rls.every((r) => r.relrowsecurity)).toBe(true);
  const policies = await db.query(`select * from pg_policies where schemaname = 'public'`);
  expect(policies).toEqual([]);

  const roles = await db.query<{ rolname: string; rolbypassrls: boolean; rolcanlogin: boolean }>(
    `select rolname, rolbypassrls, rolcanlogin from pg_roles
      where rolname in ('anon','authenticated','service_role','authenticator') order by rolname`,
  );
  expect(roles).toEqual([
    { rolname: "anon", rolbypassrls: false, rolcanlogin: false },
    { rolname: "authenticated", rolbypassrls: false, rolcanlogin: false },
    { rolname: "authenticator", rolbypassrls: false, rolcanlogin: true },
    { rolname: "service_role", rolbypassrls: true, rolcanlogin: false },
  ]);

  // anon can neither read a table nor call an RPC; service_role can
  const tenant = await db.query<{ t: { id: string } }>(`select public.create_tenant('acme') as t`);
  expect(tenant[0]?.t.id).toMatch(/^[0-9a-f-]{36}$/);
  await expect(
    db.transaction(async (tx) => {
      await tx.query(`select set_config('role', 'anon', true)`);
      return tx.query(`select public.health_check()`);
    }),
  ).rejects.toMatchObject({ code: "42501" });
  const visible = await db.transaction(async (tx) => {
    await tx.query(`select set_config('role', 'service_role', true)`);
    return tx.query<{ n: string | number }>(`select count(*)::int as n from public.tenants`);
  });
  expect(Number(visible[0]?.n)).toBeGreaterThanOrEqual(1);
}

describe("migrations on PGlite", () => {
  let db: SqlDatabase;
  beforeAll(async () => {
    db = await createPGliteDatabase();
  });
  afterAll(async () => db?.close());

  it("apply in order, are idempotent and leave RLS on every table", async () => {
    await checkSchema(db);
  });
});

describe.runIf(hasPostgres())("migrations on PostgreSQL", () => {
  let db: SqlDatabase;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const scratch = await createScratchDatabase("migrations");
    drop = scratch.drop;
    db = createPostgresDatabase({ url: scratch.url, max: 2 });
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it("apply in order, are idempotent and leave RLS on every table", async () => {
    const version = await db.query<{ v: string }>(`select current_setting('server_version_num') as v`);
    expect(Number(version[0]?.v)).toBeGreaterThanOrEqual(150000);
    await checkSchema(db);
  });

  it("refuses a migration whose file changed after it was applied", async () => {
    await db.query(`update supabase_migrations.schema_migrations set checksum = 'x' where version =
      (select min(version) from supabase_migrations.schema_migrations)`);
    await expect(migrate(db)).rejects.toThrow(/changed after it was applied/);
  });
});
