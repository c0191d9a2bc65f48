import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { inject } from "vitest";
import { withDatabase } from "./services";

/**
 * A fresh, empty database on the real Postgres for one suite (dropped by `drop()`), for suites that
 * install fixtures of their own and must not share the run's migrated database.
 */
export async function createScratchDatabase(
  label: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = inject("postgresAdminUrl");
  if (!adminUrl) throw new Error("Postgres is not reachable");
  const name = `candor_test_${inject("runId")}_${label}_${randomBytes(2).toString("hex")}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const a = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
