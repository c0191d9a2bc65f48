import { Redis, type RedisOptions } from "ioredis";

// Fail fast, never queue: while Redis is down a command must reject at once so the endpoint answers
// 500 promptly (the application's short timeout and circuit breaker are what is being exercised,
// not ours), and an unanswered write must never be replayed after a reconnect.
const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 2_000,
  // a peer that vanished without a RST would otherwise hold requests until the OS gives up
  commandTimeout: 10_000,
};
const MAX_IDLE_TRANSACTION_CONNECTIONS = 4;

/**
 * A few shared connections for `/` and `/pipeline` (ioredis pipelines on each, and one request's
 * commands go to one connection so they run in order), plus exclusive connections for
 * `/multi-exec`, whose MULTI…EXEC must not interleave with anyone else's commands.
 */
export class RedisPool {
  readonly #shared: Redis[];
  // Bound: MAX_IDLE_TRANSACTION_CONNECTIONS idle connections kept for reuse; busy ones are per request.
  readonly #idle: Redis[] = [];
  #next = 0;
  #closed = false;

  constructor(
    private readonly url: string,
    size: number,
  ) {
    // reconnect forever, quickly, so a recovered Redis is used again within a second
    this.#shared = Array.from({ length: size }, () =>
      quiet(new Redis(url, { ...FAIL_FAST, retryStrategy: (times) => Math.min(times * 100, 1_000) })),
    );
  }

  /** Resolves once every shared connection is ready or has failed once: a dead Redis must not block startup. */
  async settled(): Promise<void> {
    await Promise.all(
      this.#shared.map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.status === "ready") return resolve();
            conn.once("ready", () => resolve());
            conn.once("error", () => resolve());
          }),
      ),
    );
  }

  shared(): Redis {
    const conn = this.#shared[this.#next++ % this.#shared.length];
    if (!conn) throw new Error("RedisPool has no connections");
    return conn;
  }

  async lease(): Promise<Redis> {
    let conn = this.#idle.pop();
    while (conn && conn.status !== "ready") {
      conn.disconnect();
      conn = this.#idle.pop();
    }
    if (conn) return conn;
    // no reconnect: a transaction connection that drops is thrown away, never reused mid-MULTI
    const fresh = quiet(new Redis(this.url, { ...FAIL_FAST, lazyConnect: true, retryStrategy: () => null }));
    try {
      await fresh.connect();
    } catch (error) {
      fresh.disconnect();
      throw error;
    }
    return fresh;
  }

  /** `clean` is false when the connection may still be inside a MULTI. */
  release(conn: Redis, clean: boolean): void {
    if (
      clean &&
      !this.#closed &&
      conn.status === "ready" &&
      this.#idle.length < MAX_IDLE_TRANSACTION_CONNECTIONS
    ) {
      this.#idle.push(conn);
    } else {
      conn.disconnect();
    }
  }

  close(): void {
    this.#closed = true;
    for (const conn of [...this.#shared, ...this.#idle.splice(0)]) conn.disconnect();
  }
}

// Connection errors reach the caller as rejected commands (→ 500); without a listener ioredis
// would also print every reconnect failure as an "Unhandled error event".
function quiet(conn: Redis): Redis {
  conn.on("error", () => {});
  return conn;
}
