/** What a cache read tells its caller: a hit, a plain miss, or a miss because the cache failed. */
export type CacheRead<T> =
  | { status: "hit"; value: T }
  | { status: "miss" }
  | { status: "bypassed"; reason: "noop" | "timeout" | "error" | "circuit_open" };

/**
 * A cache in front of the store. It fails THROUGH: a read that fails is a miss (the caller reads
 * the database), a write that fails is dropped. It never throws.
 */
export interface Cache {
  readonly type: "upstash" | "noop";
  get<T>(key: string): Promise<CacheRead<T>>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  del(key: string): Promise<void>;
}
