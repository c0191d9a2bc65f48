import type { Redis } from "@upstash/redis";
import type { Cache, CacheRead } from "../../domain/ports/cache.port";
import type { Metrics } from "../../domain/ports/metrics.port";
import { withSpan } from "../../observability/tracing";
import type { CircuitBreaker } from "./circuit-breaker";
import { failureReason } from "./failure-reason";

/** Span attributes of one cache command (never the key: it can be a key hash or a tenant id). */
const span = (op: string) => ({ "db.system.name": "redis", "db.operation.name": op });

/** Bump when the shape of cached values changes: old entries are then simply never read. */
export const CACHE_VALUE_VERSION = 1;

/** The three commands a cache needs, nothing more (STYLE.md rule 2): tests can hand-write it. */
export type CacheRedis = Pick<Redis, "get" | "set" | "del">;

export interface UpstashCacheOptions {
  /** A client with `automaticDeserialization: false`: values come back as the JSON text we wrote. */
  redis: CacheRedis;
  breaker: CircuitBreaker;
  metrics: Metrics;
  /**
   * Key namespace, e.g. "candor:auth:v1:". Callers pass keys below it that are already
   * tenant-scoped (`t:<tenant>:conv:<id>`), or, for the auth cache, the sha-256 of the key itself.
   */
  prefix: string;
}

/**
 * Cache over Upstash that fails THROUGH (ARCHITECTURE.md): a failed read is a miss (`bypassed`, the
 * caller reads the database) counted in cache_bypass_count; a failed write or delete is dropped and
 * counted in cache_write_failures. Nothing here throws, and nothing is kept in memory.
 * Values are stored as versioned JSON `{"v":1,"d":…}` with a TTL; an entry of another version or
 * that does not parse is a plain miss and is overwritten by the next write.
 */
export class UpstashCache implements Cache {
  readonly type = "upstash" as const;

  constructor(private readonly o: UpstashCacheOptions) {}

  async get<T>(key: string): Promise<CacheRead<T>> {
    let raw: unknown;
    try {
      raw = await this.o.breaker.run(() =>
        withSpan("upstash GET", span("GET"), () => this.o.redis.get<string>(this.o.prefix + key)),
      );
    } catch (error) {
      // fail through: the caller reads the database; the count feeds the P1 alarm
      this.o.metrics.count("cache_bypass_count", 1);
      this.o.metrics.gauge("cache_hit_rate", 0, "Percent");
      return { status: "bypassed", reason: failureReason(error) };
    }
    const value = raw === null || raw === undefined ? undefined : decode<T>(raw);
    this.o.metrics.gauge("cache_hit_rate", value === undefined ? 0 : 100, "Percent");
    return value === undefined ? { status: "miss" } : { status: "hit", value: value.d };
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    // an entry without expiry would outlive every invalidation we miss: never write one
    if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0) return;
    const ex = Math.max(1, Math.floor(ttlSeconds));
    try {
      const text = JSON.stringify({ v: CACHE_VALUE_VERSION, d: value });
      await this.o.breaker.run(() =>
        withSpan("upstash SET", span("SET"), () => this.o.redis.set(this.o.prefix + key, text, { ex })),
      );
    } catch {
      // dropped: the next read misses and goes to the database
      this.o.metrics.count("cache_write_failures", 1);
    }
  }

  async del(key: string): Promise<void> {
    try {
      await this.o.breaker.run(() =>
        withSpan("upstash DEL", span("DEL"), () => this.o.redis.del(this.o.prefix + key)),
      );
    } catch {
      // the entry expires with its TTL; the failure is counted for the P1 alarm
      this.o.metrics.count("cache_write_failures", 1);
    }
  }
}

/** The stored envelope, or undefined for another version or a corrupt entry (a miss). */
function decode<T>(raw: unknown): { d: T } | undefined {
  try {
    const parsed = (typeof raw === "string" ? JSON.parse(raw) : raw) as { v?: unknown; d?: T } | null;
    if (
      parsed === null ||
      typeof parsed !== "object" ||
      parsed.v !== CACHE_VALUE_VERSION ||
      !("d" in parsed)
    ) {
      return undefined;
    }
    return { d: parsed.d as T };
  } catch {
    return undefined;
  }
}
