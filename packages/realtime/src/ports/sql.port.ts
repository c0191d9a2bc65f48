/**
 * The database as this service sees it: parameterised queries and transactions. Implemented over
 * `postgres` (a direct connection, deployed) and satisfied as is by the local stack's PGlite
 * database (embedded mode). Rows come back as the driver parsed them; callers cast in SQL to get
 * exact text (ids, jsonb).
 */
export type SqlRow = Record<string, unknown>;

export interface SqlSession {
  query<T extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface SqlClient extends SqlSession {
  transaction<T>(fn: (tx: SqlSession) => Promise<T>): Promise<T>;
}
