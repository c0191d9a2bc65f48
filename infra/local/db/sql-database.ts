/**
 * The one port the offline stack uses to talk to Postgres, whichever engine runs it:
 * a real PostgreSQL server (through `postgres`) or embedded PGlite.
 * Rows come back as the driver parsed them; callers that need exact JSON cast to text in SQL.
 */
export type SqlRow = Record<string, unknown>;

export interface SqlSession {
  query<T extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs several statements separated by semicolons, no parameters. */
  exec(text: string): Promise<void>;
}

export interface TransactionOptions {
  readOnly?: boolean;
}

export interface SqlDatabase extends SqlSession {
  readonly kind: "postgres" | "pglite";
  transaction<T>(fn: (tx: SqlSession) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** LISTEN on a channel; resolves once listening. The returned function stops listening. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** The SQLSTATE of a database error, whatever driver raised it. */
export function sqlState(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") {
    return error.code;
  }
  return undefined;
}
