import type postgres from "postgres";
import type { SqlClient, SqlRow, SqlSession } from "../ports/sql.port";

/** The queries of this service over a `postgres` pool, counting the connections in use (db_pool_in_use). */
export class PostgresSqlClient implements SqlClient {
  private active = 0;

  constructor(
    private readonly sql: postgres.Sql,
    private readonly poolMax: number,
  ) {}

  /** Queries and transactions running now, at most the pool size: the `db_pool_in_use` gauge. */
  get inUse(): number {
    return Math.min(this.active, this.poolMax);
  }

  async query<T extends SqlRow = SqlRow>(text: string, params: readonly unknown[] = []): Promise<T[]> {
    this.active++;
    try {
      return (await this.sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as T[];
    } finally {
      this.active--;
    }
  }

  async transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T> {
    this.active++;
    try {
      return (await this.sql.begin(async (tx) =>
        fn({
          query: async <R extends SqlRow>(text: string, params: readonly unknown[] = []) =>
            (await tx.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as unknown as R[],
        }),
      )) as T;
    } finally {
      this.active--;
    }
  }

  close(): Promise<void> {
    return this.sql.end({ timeout: 5 });
  }
}
