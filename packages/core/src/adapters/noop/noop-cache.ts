import type { Cache, CacheRead } from "../../domain/ports/cache.port";

/** Chosen at cold start when Redis is not configured or caching is switched off: always a miss. */
export class NoOpCache implements Cache {
  readonly type = "noop" as const;
  async get<T>(_key: string): Promise<CacheRead<T>> {
    return { status: "bypassed", reason: "noop" };
  }
  async set<T>(_key: string, _value: T, _ttlSeconds: number): Promise<void> {}
  async del(_key: string): Promise<void> {}
}
