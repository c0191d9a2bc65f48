import type { Redis } from "@upstash/redis";
import type { Cache, CacheRead } from "../../domain/ports/cache.port";
import type { Metrics } from "../../domain/ports/metrics.port";
import type { CircuitBreaker } from "./circuit-breaker";
import { failureReason } from "./failure-reason";

/** Bump when the shape of cached values changes: old entries are then simply never read. */
const VALUE_VERSION = 1;

export interface UpstashCacheOptions {
  redis: Pick<Redis, "get" | "set" | "del">;
  breaker: CircuitBreaker;
  metrics: Metrics;
  /** Key namespace, e.g. "candor:auth:v1:"; callers pass tenant-scoped keys below it. */
  prefix: string;
  /** Name for the cache_type/bypass metrics dimension (auth, conversation). */
  name: string;
}

/**
 * Cache over Upstash that fails THROUGH: a failed read is a miss (`bypassed`), counted in
 * cache_bypass_count; a failed write is dropped and counted. Nothing here throws.
 */
export class UpstashCache implements Cache {
  readonly type = "upstash" as const;

  constructor(private readonly o: UpstashCacheOptions) {}

  async get<T>(key: string): Promise<CacheRead<T>> {
    try {
      const raw = await this.o.breaker.run(() => this.o.redis.get<string>(this.o.prefix + key));
      const value = raw === null ? undefined : decode<T>(raw);
      this.o.metrics.gauge("cache_hit_rate", value === undefined ? 0 : 100, "Percent");
      return value === undefined ? { status: "miss" } : { status: "hit", value };
    } catch (error) {
      this.o.metrics.count("cache_bypass_count", 1);
      this.o.metrics.gauge("cache_hit_rate", 0, "Percent");
      return { status: "bypassed", reason: failureReason(error) };
    }
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    try {
      await this.o.breaker.run(() =>
        this.o.redis.set(this.o.prefix + key, JSON.stringify({ v: VALUE_VERSION, d: value }), { ex: ttlSeconds }),
      );
    } catch {
      this.o.metrics.count("cache_write_failures", 1);
    }
  }

  async del(key: string): Promise<void> {
    try {
      await this.o.breaker.run(() => this.o.redis.del(this.o.prefix + key));
    } catch {
      // the entry expires with its TTL; the failure is counted for the P1 alarm
      this.o.metrics.count("cache_write_failures", 1);
    }
  }
}

function decode<T>(raw: unknown): T | undefined {
  try {
    const parsed = (typeof raw === "string" ? JSON.parse(raw) : raw) as { v?: number; d?: T } | null;
    return parsed && parsed.v === VALUE_VERSION ? (parsed.d as T) : undefined;
  } catch {
    return undefined; // a corrupt entry is a miss; it will be overwritten
  }
}
