import postgres from "postgres";
import type { SqlDatabase, SqlRow, SqlSession, TransactionOptions } from "./sql-database";

export interface PostgresDatabaseOptions {
  url: string;
  /** Pool size; the offline stack is one process, a handful is plenty. */
  max?: number;
  /** Connect as this role instead of the URL's user (the Supabase endpoint uses `authenticator`). */
  user?: string;
  /** Give up connecting after this many seconds (postgres.js default: 30); an unreachable server must fail fast. */
  connectTimeoutSeconds?: number;
}

function session(sql: postgres.Sql | postgres.TransactionSql): SqlSession {
  return {
    async query<T extends SqlRow>(text: string, params: readonly unknown[] = []) {
      const rows = await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[]);
      return rows as unknown as T[];
    },
    async exec(text: string) {
      await sql.unsafe(text).simple();
    },
  };
}

export function createPostgresDatabase(options: PostgresDatabaseOptions): SqlDatabase {
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    ...(options.user ? { user: options.user } : {}),
    ...(options.connectTimeoutSeconds !== undefined
      ? { connect_timeout: options.connectTimeoutSeconds }
      : {}),
    onnotice: () => {},
    // numeric, int8 stay strings: money and ids are never floats
    types: {},
    connection: { application_name: "candor-local" },
  });
  const base = session(sql);
  return {
    kind: "postgres",
    ...base,
    async transaction<T>(fn: (tx: SqlSession) => Promise<T>, opts: TransactionOptions = {}) {
      const mode = opts.readOnly ? "read only" : "read write";
      return (await sql.begin(mode, (tx) => fn(session(tx)))) as T;
    },
    async listen(channel, onPayload) {
      const sub = await sql.listen(channel, onPayload);
      return async () => {
        await sub.unlisten();
      };
    },
    async close() {
      await sql.end({ timeout: 5 });
    },
  };
}
