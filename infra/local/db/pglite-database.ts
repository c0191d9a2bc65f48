import { PGlite, type Transaction } from "@electric-sql/pglite";
import type { SqlDatabase, SqlRow, SqlSession, TransactionOptions } from "./sql-database";

export interface PGliteDatabaseOptions {
  /** A directory to persist to; omitted means in memory. */
  dataDir?: string;
}

function session(db: PGlite | Transaction): SqlSession {
  return {
    async query<T extends SqlRow>(text: string, params: readonly unknown[] = []) {
      const result = await db.query<T>(text, params as unknown[]);
      return result.rows;
    },
    async exec(text: string) {
      await db.exec(text);
    },
  };
}

/** Embedded Postgres (WASM). One connection: PGlite runs transactions one at a time. */
export async function createPGliteDatabase(options: PGliteDatabaseOptions = {}): Promise<SqlDatabase> {
  const db = await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  const base = session(db);
  return {
    kind: "pglite",
    ...base,
    async transaction<T>(fn: (tx: SqlSession) => Promise<T>, opts: TransactionOptions = {}) {
      return db.transaction(async (tx) => {
        if (opts.readOnly) await tx.query("set transaction read only");
        return fn(session(tx));
      });
    },
    async listen(channel, onPayload) {
      const unlisten = await db.listen(channel, onPayload);
      return async () => {
        await unlisten();
      };
    },
    async close() {
      await db.close();
    },
  };
}
