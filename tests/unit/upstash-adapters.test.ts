/**
 * The Upstash adapters map every failure to allow (limiter) or miss (caches), with hand-written fakes
 * of the few Redis commands they use. The real client against the real endpoint and Redis is
 * exercised by tests/faults/.
 */
import { CircuitBreaker, DependencyStatus, UpstashCache, UpstashRateLimiter } from "@candor/core";
import { errors } from "@upstash/redis";
import { describe, expect, it } from "vitest";
import type { CacheRedis } from "../../packages/core/src/adapters/upstash/upstash-cache";
import type { LimiterRedis } from "../../packages/core/src/adapters/upstash/upstash-rate-limiter";
import { recordingLog, recordingMetrics } from "../support/fake-observability";

type Behaviour = (command: string, args: unknown[]) => Promise<unknown>;

/** The failures an Upstash call can end in, as the real client surfaces them. */
const FAILURES: Record<string, { behaviour: Behaviour; reason: "timeout" | "error" }> = {
  "connection refused": {
    behaviour: async () => {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      });
    },
    reason: "error",
  },
  "connection reset": {
    behaviour: async () => {
      throw new TypeError("fetch failed", {
        cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      });
    },
    reason: "error",
  },
  "our deadline (AbortSignal.timeout)": {
    behaviour: async () => {
      throw new DOMException("The operation was aborted due to timeout", "TimeoutError");
    },
    reason: "timeout",
  },
  "HTTP 401": {
    behaviour: async () => {
      throw new errors.UpstashError("Unauthorized, command was: [...]");
    },
    reason: "error",
  },
  "HTTP 500": {
    behaviour: async () => {
      throw new errors.UpstashError("ERR Redis is unavailable: connect ECONNREFUSED, command was: [...]");
    },
    reason: "error",
  },
  "a body that is not JSON": {
    behaviour: async () => {
      throw new errors.UpstashJSONParseError("<html>bad gateway</html>");
    },
    reason: "error",
  },
  "a garbage result": {
    // evalsha resolves something that is not the script's array: limit() rejects with a TypeError
    behaviour: async () => "��)",
    reason: "error",
  },
  "a hang (the ratelimit timeout answers)": {
    behaviour: () => new Promise(() => {}),
    reason: "timeout",
  },
};

function fakeRedis(behaviour: Behaviour) {
  const calls: { command: string; args: unknown[] }[] = [];
  const call = (command: string, args: unknown[]) => {
    calls.push({ command, args });
    return behaviour(command, args);
  };
  const limiter = {
    evalsha: (sha: string, keys: string[], args: unknown[]) => call("evalsha", [sha, keys, args]),
    eval: (script: string, keys: string[], args: unknown[]) => call("eval", [script, keys, args]),
    get: (key: string) => call("get", [key]),
    set: (key: string, value: unknown, opts?: unknown) => call("set", [key, value, opts]),
  } as unknown as LimiterRedis;
  const cache = {
    get: (key: string) => call("get", [key]),
    set: (key: string, value: unknown, opts?: unknown) => call("set", [key, value, opts]),
    del: (...keys: string[]) => call("del", keys),
  } as unknown as CacheRedis;
  return { calls, limiter, cache };
}

function observability(threshold = 1_000) {
  const metrics = recordingMetrics();
  const breaker = new CircuitBreaker({
    failureThreshold: threshold,
    openMs: 60_000,
    status: new DependencyStatus("redis", "redis_connection_status", recordingLog(), metrics),
  });
  return { metrics, breaker };
}

const request = {
  tenantId: "t1",
  keyId: "k1",
  requestsPerMinute: 10,
  keyRequestsPerMinute: 5,
  tokensPerMinute: 1000,
  tokens: 40,
};

describe("UpstashRateLimiter fails open", () => {
  for (const [name, { behaviour, reason }] of Object.entries(FAILURES)) {
    it(`allows on ${name}: mode bypassed, reason ${reason}, counted once per request`, async () => {
      const { metrics, breaker } = observability();
      const redis = fakeRedis(behaviour);
      const limiter = new UpstashRateLimiter({
        redis: redis.limiter,
        breaker,
        metrics,
        prefix: "p:rl",
        timeoutMs: 30,
      });
      const started = performance.now();
      for (let i = 0; i < 3; i++) {
        expect(await limiter.check(request)).toEqual({ allowed: true, mode: "bypassed", reason });
      }
      // the hang costs the ratelimit timeout, not more
      expect(performance.now() - started).toBeLessThan(3 * 30 + 500);
      expect(redis.calls.length).toBeGreaterThanOrEqual(3);
      expect(metrics.totals().rate_limit_bypass_count).toBe(3);
    });
  }

  it("a NOSCRIPT followed by a failing EVAL is a failure too", async () => {
    const { metrics, breaker } = observability();
    const redis = fakeRedis(async (command) => {
      throw new errors.UpstashError(command === "evalsha" ? "NOSCRIPT No matching script" : "ERR boom");
    });
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    expect(await limiter.check(request)).toEqual({ allowed: true, mode: "bypassed", reason: "error" });
    expect(redis.calls.map((c) => c.command)).toContain("eval");
  });

  it("once the shared breaker is open it answers circuit_open without calling Redis", async () => {
    const { metrics, breaker } = observability(2);
    const redis = fakeRedis(FAILURES["connection refused"]?.behaviour as Behaviour);
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    await limiter.check(request);
    await limiter.check(request);
    const calls = redis.calls.length;
    for (let i = 0; i < 10; i++) {
      expect(await limiter.check(request)).toEqual({
        allowed: true,
        mode: "bypassed",
        reason: "circuit_open",
      });
    }
    expect(redis.calls.length).toBe(calls);
    expect(metrics.totals().rate_limit_bypass_count).toBe(12);
  });

  it("a tenant without limits is not sent to Redis and is not a bypass", async () => {
    const { metrics, breaker } = observability();
    const redis = fakeRedis(FAILURES["connection refused"]?.behaviour as Behaviour);
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    expect(
      await limiter.check({ tenantId: "t", keyId: "k", requestsPerMinute: null, tokensPerMinute: null }),
    ).toEqual({
      allowed: true,
      mode: "enforced",
    });
    expect(redis.calls).toHaveLength(0);
    expect(metrics.totals().rate_limit_bypass_count).toBeUndefined();
  });
});

describe("UpstashRateLimiter decisions (script answers faked)", () => {
  /**
   * Answers EVALSHA like the scripts do, per identifier: the sliding window (requests) answers
   * [remaining, limit], the token bucket (tokens) [remaining, next refill, limit].
   */
  function scripted(answers: Record<string, [number, number]>) {
    return fakeRedis(async (command, args) => {
      if (command !== "evalsha") throw new Error(`unexpected ${command}`);
      const key = (args[1] as string[])[0] ?? "";
      const id = Object.keys(answers).find((k) => key.includes(k));
      const answer = id ? answers[id] : undefined;
      if (!answer) throw new Error(`no answer for ${key}`);
      return key.includes(":tok:") ? [answer[0], Date.now() + 1_000, answer[1]] : answer;
    });
  }
  /** The increment a limit call asked for: ARGV[4] of the sliding window, ARGV[5] of the bucket. */
  const rateOf = (c: { args: unknown[] }): number => {
    const key = (c.args[1] as string[])[0] ?? "";
    return (c.args[2] as number[])[key.includes(":tok:") ? 4 : 3] as number;
  };

  it("checks the tenant, the key and the tokens, each under its own tenant- or key-scoped Redis key", async () => {
    const { metrics, breaker } = observability();
    const redis = scripted({ "req:tenant:t1": [7, 10], "req:key:k1": [2, 5], "tok:tenant:t1": [900, 1000] });
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    const d = await limiter.check(request);
    // the headers describe the limit closest to exhaustion: the key's
    expect(d).toMatchObject({ allowed: true, mode: "enforced", limit: 5, remaining: 2 });
    expect(d.resetAt).toBeGreaterThan(Date.now());
    const keys = redis.calls.map((c) => (c.args[1] as string[])[0]);
    expect(keys).toHaveLength(3);
    expect(keys.some((k) => k?.startsWith("p:rl:req:tenant:t1:"))).toBe(true);
    expect(keys.some((k) => k?.startsWith("p:rl:req:key:k1:"))).toBe(true);
    expect(keys).toContain("p:rl:tok:tenant:t1");
    // the tokens check takes the request's tokens, the request checks 1 each
    expect(redis.calls.map(rateOf).sort((a, b) => a - b)).toEqual([1, 1, 40]);
  });

  it("a refusal by tokens says so, and gives back the request counts it took", async () => {
    const { metrics, breaker } = observability();
    const redis = scripted({ "req:tenant:t1": [7, 10], "req:key:k1": [2, 5], "tok:tenant:t1": [-1, 1000] });
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    const d = await limiter.check(request);
    expect(d).toMatchObject({
      allowed: false,
      mode: "enforced",
      limitedBy: "tokens",
      limit: 1000,
      remaining: 0,
    });
    // 40 tokens at 1000/min refill in 3 s: Retry-After is not the bucket's next 1 s refill
    expect(d.resetAt).toBeGreaterThanOrEqual(Date.now() + 2_500);
    const refunds = redis.calls.filter((c) => rateOf(c) < 0);
    expect(
      refunds.map((c) => [(c.args[1] as string[])[0]?.split(":").slice(2, 5).join(":"), rateOf(c)]),
    ).toEqual(
      expect.arrayContaining([
        ["req:tenant:t1", -1],
        ["req:key:k1", -1],
      ]),
    );
    expect(refunds).toHaveLength(2);
    expect(metrics.totals().rate_limit_bypass_count).toBeUndefined();
  });

  it("a refusal by requests says requests", async () => {
    const { metrics, breaker } = observability();
    const redis = scripted({ "req:tenant:t1": [-1, 10], "req:key:k1": [2, 5], "tok:tenant:t1": [500, 1000] });
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
    });
    expect(await limiter.check(request)).toMatchObject({ allowed: false, limitedBy: "requests", limit: 10 });
  });

  it("keeps one limiter object per distinct limit, bounded by an LRU", async () => {
    const { metrics, breaker } = observability();
    const redis = scripted({ "req:tenant": [1, 1] });
    const limiter = new UpstashRateLimiter({
      redis: redis.limiter,
      breaker,
      metrics,
      prefix: "p:rl",
      timeoutMs: 50,
      maxLimiters: 8,
    });
    for (let i = 0; i < 20; i++)
      await limiter.check({ tenantId: `t${i}`, keyId: "k", requestsPerMinute: 100 });
    expect(limiter.limiterCount).toBe(1); // 20 tenants, one setting: one object
    for (let rpm = 1; rpm <= 50; rpm++)
      await limiter.check({ tenantId: "t", keyId: "k", requestsPerMinute: rpm });
    expect(limiter.limiterCount).toBe(8);
  });
});

describe("UpstashCache fails through", () => {
  for (const [name, { behaviour, reason }] of Object.entries(FAILURES)) {
    if (name.startsWith("a hang")) continue; // the real client's deadline turns a hang into a TimeoutError (faults suite)
    it(`a read on ${name} is a miss (bypassed, ${reason}) and counted; writes are dropped and counted`, async () => {
      const { metrics, breaker } = observability();
      const redis = fakeRedis(behaviour);
      const cache = new UpstashCache({ redis: redis.cache, breaker, metrics, prefix: "p:auth:v1:" });
      const read = await cache.get("t:1:x");
      // a garbage GET result is not an error of the client: it is a corrupt entry, a plain miss
      if (name === "a garbage result") expect(read).toEqual({ status: "miss" });
      else expect(read).toEqual({ status: "bypassed", reason });
      await cache.set("t:1:x", { a: 1 }, 60);
      await cache.del("t:1:x");
      expect(metrics.totals().cache_bypass_count).toBe(name === "a garbage result" ? undefined : 1);
      expect(metrics.totals().cache_write_failures).toBe(name === "a garbage result" ? undefined : 2);
    });
  }

  it("stores versioned JSON with a TTL under the prefix, and reads back only its own version", async () => {
    const { metrics, breaker } = observability();
    const stored = new Map<string, unknown>(); // test-only stand-in for Redis
    const redis = fakeRedis(async (command, args) => {
      const key = String(args[0]);
      if (command === "set") {
        stored.set(key, args[1]);
        return "OK";
      }
      if (command === "get") return stored.get(key) ?? null;
      throw new Error(command);
    });
    const cache = new UpstashCache({ redis: redis.cache, breaker, metrics, prefix: "p:conv:v1:" });
    await cache.set("t:1:conv:9", { title: "x" }, 300);
    expect(redis.calls[0]).toEqual({
      command: "set",
      args: ["p:conv:v1:t:1:conv:9", '{"v":1,"d":{"title":"x"}}', { ex: 300 }],
    });
    expect(await cache.get("t:1:conv:9")).toEqual({ status: "hit", value: { title: "x" } });
    stored.set("p:conv:v1:old", '{"v":0,"d":{"title":"x"}}');
    stored.set("p:conv:v1:corrupt", "{not json");
    expect(await cache.get("old")).toEqual({ status: "miss" });
    expect(await cache.get("corrupt")).toEqual({ status: "miss" });
    expect(await cache.get("absent")).toEqual({ status: "miss" });
    // an entry without a TTL is never written
    await cache.set("t:1:forever", 1, 0);
    expect(stored.has("p:conv:v1:t:1:forever")).toBe(false);
  });

  it("with the breaker open, reads are circuit_open misses and Redis is not called", async () => {
    const { metrics, breaker } = observability(1);
    const redis = fakeRedis(FAILURES["connection refused"]?.behaviour as Behaviour);
    const cache = new UpstashCache({ redis: redis.cache, breaker, metrics, prefix: "p:" });
    await cache.get("a");
    const calls = redis.calls.length;
    expect(await cache.get("a")).toEqual({ status: "bypassed", reason: "circuit_open" });
    await cache.set("a", 1, 10);
    expect(redis.calls.length).toBe(calls);
    expect(metrics.totals().cache_bypass_count).toBe(2);
    expect(metrics.totals().cache_write_failures).toBe(1);
  });
});
