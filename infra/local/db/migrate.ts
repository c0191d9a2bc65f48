import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SqlDatabase } from "./sql-database";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../supabase/migrations/", import.meta.url));

export interface Migration {
  version: string;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/** Files named `<version>_<name>.sql`, in version order (the Supabase CLI convention). */
export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d+)_(.+)\.sql$/.exec(file);
    if (!match?.[1] || !match[2])
      throw new Error(`migration file name must be <version>_<name>.sql: ${file}`);
    const sql = await readFile(join(dir, file), "utf8");
    migrations.push({
      version: match[1],
      name: match[2],
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    });
  }
  return migrations;
}

/**
 * Applies every migration not yet recorded, each in its own transaction, in order.
 * Idempotent: a second run applies nothing. A recorded migration whose file changed is an error,
 * not a silent skip: the schema would no longer match its source.
 */
export async function migrate(db: SqlDatabase, dir = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await loadMigrations(dir);
  await db.exec(`
    create schema if not exists supabase_migrations;
    create table if not exists supabase_migrations.schema_migrations (
      version text primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    );
  `);
  const result: MigrationResult = { applied: [], skipped: [] };
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      // one runner at a time per database; the lock ends with the transaction
      await tx.query("select pg_advisory_xact_lock(7261001)");
      const rows = await tx.query<{ checksum: string }>(
        "select checksum from supabase_migrations.schema_migrations where version = $1",
        [m.version],
      );
      const recorded = rows[0];
      if (recorded) {
        if (recorded.checksum !== m.checksum) {
          throw new Error(`migration ${m.version}_${m.name} changed after it was applied`);
        }
        return false;
      }
      await tx.exec(m.sql);
      await tx.query(
        "insert into supabase_migrations.schema_migrations (version, name, checksum) values ($1, $2, $3)",
        [m.version, m.name, m.checksum],
      );
      return true;
    });
    (done ? result.applied : result.skipped).push(`${m.version}_${m.name}`);
  }
  return result;
}
