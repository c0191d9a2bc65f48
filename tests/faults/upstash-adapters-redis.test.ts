/**
 * The Upstash adapters with the real clients (@upstash/redis, @upstash/ratelimit, built by
 * createUpstashClient exactly as create-core does) against the local Upstash endpoint and the real
 * Redis: what the limits do when Redis is healthy, and what a paused Redis (CLIENT PAUSE) does.
 */
import { randomUUID } from "node:crypto";
import { CircuitBreaker, DependencyStatus, UpstashCache, UpstashRateLimiter } from "@candor/core";
import { Redis as IORedis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalUpstash, startLocalUpstash } from "../../infra/local/upstash/index";
import { createUpstashClient } from "../../packages/core/src/adapters/upstash/upstash-client";
import { recordingLog, recordingMetrics } from "../support/fake-observability";
import { awayFromMinuteEdge, ms } from "../support/latency";
import { hasRedis } from "../support/requires";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";
import { startUpstashFront, type UpstashFront } from "../support/upstash-front";

const TIMEOUT_MS = 150;
/**
 * The tests of what the limits do (Redis healthy) use a longer deadline: on a 2-core box shared
 * with other test runs a stall over 150 ms is a bypass, correct but not what those tests look at.
 */
const SEMANTICS_TIMEOUT_MS = 1_000;

describe.runIf(hasRedis())("Upstash adapters over the local endpoint and real Redis", () => {
  const prefix = `${inject("redisPrefix")}adapters:`;
  const token = randomUUID();
  let upstash: LocalUpstash;
  let direct: IORedis;

  beforeAll(async () => {
    upstash = await startLocalUpstash({ redisUrl: inject("redisUrl"), token, port: 0 });
    direct = new IORedis(inject("redisUrl"), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await direct.connect();
  });
  beforeAll(async () => {
    // warm: the first call of a process opens the HTTP connection and makes Redis compile the
    // scripts (EVALSHA → NOSCRIPT → EVAL), which can take longer than the 150 ms deadline
    const { limiter } = build();
    for (let i = 0; i < 3; i++)
      await limiter.check({
        tenantId: randomUUID(),
        keyId: "k",
        requestsPerMinute: 5,
        tokensPerMinute: 5,
        tokens: 1,
      });
  });
  afterAll(async () => {
    direct?.disconnect();
    await upstash?.close();
  });

  function build(
    threshold = 5,
    target: { url: string; token: string } = { url: upstash.url, token },
    timeoutMs = SEMANTICS_TIMEOUT_MS,
  ) {
    const metrics = recordingMetrics();
    const breaker = new CircuitBreaker({
      failureThreshold: threshold,
      window: Math.max(threshold, 10),
      openMs: 5_000,
      status: new DependencyStatus("redis", "redis_connection_status", recordingLog(), metrics),
    });
    const base = { ...target, timeoutMs };
    const limiter = new UpstashRateLimiter({
      redis: createUpstashClient({ ...base, retries: 0, automaticDeserialization: true }),
      breaker,
      metrics,
      prefix: `${prefix}rl`,
      timeoutMs,
    });
    const cache = new UpstashCache({
      redis: createUpstashClient({ ...base, retries: 1, automaticDeserialization: false }),
      breaker,
      metrics,
      prefix: `${prefix}conv:v1:`,
    });
    return { limiter, cache, metrics, breaker };
  }

  it("per tenant: exactly `rpm` requests pass in the window, then refusals that say requests", async () => {
    await awayFromMinuteEdge(5_000);
    const { limiter, metrics } = build();
    const tenantId = randomUUID();
    const decisions = [];
    for (let i = 0; i < 5; i++)
      decisions.push(await limiter.check({ tenantId, keyId: randomUUID(), requestsPerMinute: 3 }));
    expect(decisions.map((d) => d.mode)).toEqual(Array(5).fill("enforced"));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0, 0]);
    expect(decisions[3]).toMatchObject({ limitedBy: "requests", limit: 3 });
    const resetAt = decisions[3]?.resetAt as number;
    expect(resetAt).toBeGreaterThan(Date.now());
    expect(resetAt).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(metrics.totals().rate_limit_bypass_count).toBeUndefined();
    // the counts are in Redis, under this run's prefix, scoped by the tenant id
    const keys = await direct.keys(`${prefix}rl:req:tenant:${tenantId}:*`);
    expect(keys).toHaveLength(1);
  });

  it("per API key: one key at its limit is refused while another key of the same tenant still passes", async () => {
    await awayFromMinuteEdge(5_000);
    const { limiter } = build();
    const tenantId = randomUUID();
    const [k1, k2] = [randomUUID(), randomUUID()];
    const ask = (keyId: string) =>
      limiter.check({ tenantId, keyId, requestsPerMinute: 100, keyRequestsPerMinute: 2 });
    expect((await ask(k1)).allowed).toBe(true);
    expect((await ask(k1)).allowed).toBe(true);
    expect(await ask(k1)).toMatchObject({ allowed: false, limitedBy: "requests", limit: 2 });
    expect(await ask(k2)).toMatchObject({ allowed: true, limit: 2, remaining: 1 });
    // the key's refusal gave back the tenant count it took: 3 tenant requests passed, not 4
    const tenantKey = (await direct.keys(`${prefix}rl:req:tenant:${tenantId}:*`))[0] as string;
    expect(Number(await direct.get(tenantKey))).toBe(3);
  });

  it("tokens per minute: refused by tokens without charging them, and the request count is given back", async () => {
    await awayFromMinuteEdge(5_000);
    const { limiter } = build();
    const tenantId = randomUUID();
    const ask = (tokens: number) =>
      limiter.check({ tenantId, keyId: "k", requestsPerMinute: 3, tokensPerMinute: 100, tokens });
    expect((await ask(40)).allowed).toBe(true);
    expect((await ask(40)).allowed).toBe(true);
    const refused = await ask(40);
    expect(refused).toMatchObject({ allowed: false, limitedBy: "tokens", limit: 100, remaining: 0 });
    // 20 tokens left, 40 wanted, 100/min refill: Retry-After covers the 24 s it takes, not 1 s
    expect(refused.resetAt).toBeGreaterThanOrEqual(Date.now() + 20_000);
    // the refused request was not charged its tokens, and its request count was given back:
    // otherwise this fourth request would be refused (by tokens, or by the 3 requests)
    expect(await ask(10)).toMatchObject({ allowed: true, mode: "enforced" });
    expect(await ask(1)).toMatchObject({ allowed: false, limitedBy: "requests", limit: 3 });
  });

  it("a request larger than the whole tokens-per-minute limit is refused without locking the tenant out", async () => {
    const { limiter } = build();
    const tenantId = randomUUID();
    const ask = (tokens: number) => limiter.check({ tenantId, keyId: "k", tokensPerMinute: 100, tokens });
    expect(await ask(150)).toMatchObject({ allowed: false, limitedBy: "tokens", limit: 100 });
    expect(await ask(90)).toMatchObject({ allowed: true, remaining: 10 });
  });

  it("a limit lowered by the tenant policy applies to the count already made", async () => {
    await awayFromMinuteEdge(5_000);
    const { limiter } = build();
    const tenantId = randomUUID();
    for (let i = 0; i < 4; i++)
      expect((await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 100 })).allowed).toBe(true);
    expect(await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 4 })).toMatchObject({
      allowed: false,
      limit: 4,
    });
  });

  it("the cache stores versioned JSON with its TTL under the tenant-scoped key, and reads it back", async () => {
    const { cache, metrics } = build();
    const key = `t:${randomUUID()}:conv:1`;
    await cache.set(key, { title: "x", n: 1 }, 120);
    expect(await direct.get(`${prefix}conv:v1:${key}`)).toBe('{"v":1,"d":{"title":"x","n":1}}');
    const ttl = await direct.ttl(`${prefix}conv:v1:${key}`);
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(await cache.get(key)).toEqual({ status: "hit", value: { title: "x", n: 1 } });
    await direct.set(`${prefix}conv:v1:${key}`, '{"v":2,"d":{}}', "EX", 60);
    expect(await cache.get(key)).toEqual({ status: "miss" });
    await cache.del(key);
    expect(await direct.exists(`${prefix}conv:v1:${key}`)).toBe(0);
    expect(metrics.totals().cache_bypass_count).toBeUndefined();
  });

  it("a paused Redis (CLIENT PAUSE WRITE, 400 ms) costs the 150 ms timeout and allows: reason timeout", async () => {
    const { limiter, metrics } = build(5, { url: upstash.url, token }, TIMEOUT_MS);
    const tenantId = randomUUID();
    expect((await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 10 })).mode).toBe("enforced");
    const admin = new IORedis(inject("redisUrl"), { lazyConnect: true, maxRetriesPerRequest: 1 });
    await admin.connect();
    let decision: Awaited<ReturnType<typeof limiter.check>>;
    let elapsed: number;
    try {
      // the server-side timeout unpauses by itself even if this process dies before the finally
      await admin.call("CLIENT", "PAUSE", "400", "WRITE");
      const started = performance.now();
      decision = await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 10 });
      elapsed = performance.now() - started;
    } finally {
      await admin.call("CLIENT", "UNPAUSE");
      admin.disconnect();
    }
    console.log(`[faults] CLIENT PAUSE: limiter answered ${JSON.stringify(decision)} in ${ms(elapsed)}`);
    expect(decision).toEqual({ allowed: true, mode: "bypassed", reason: "timeout" });
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 150);
    expect(metrics.totals().rate_limit_bypass_count).toBe(1);
  });

  describe("each fault, through the real clients: allow or miss, with the right reason", () => {
    let link: TcpProxy;
    let faulty: LocalUpstash;
    let front: UpstashFront;
    beforeAll(async () => {
      const redis = new URL(inject("redisUrl"));
      link = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
      const proxied = new URL(redis);
      proxied.port = String(link.port);
      faulty = await startLocalUpstash({ redisUrl: proxied.toString(), token, port: 0 });
      front = await startUpstashFront();
      front.setTarget(faulty.url);
    });
    /** After a fault, until every connection of the endpoint's pool to Redis is back (its own reconnect). */
    async function redisBack(): Promise<void> {
      const ping = createUpstashClient({
        url: front.url,
        token,
        timeoutMs: 500,
        retries: 0,
        automaticDeserialization: true,
      });
      const deadline = Date.now() + 5_000;
      let streak = 0;
      while (streak < 8) {
        if (Date.now() > deadline) throw new Error("Redis did not come back through the endpoint");
        streak = (await ping.ping().catch(() => "down")) === "PONG" ? streak + 1 : 0;
        if (streak === 0) await new Promise((r) => setTimeout(r, 50));
      }
    }
    afterAll(async () => {
      await front?.close();
      await faulty?.close();
      await link?.close();
    });

    const cases: {
      name: string;
      inject: () => Promise<void> | void;
      clear: () => Promise<void> | void;
      reason: "timeout" | "error";
    }[] = [
      { name: "Redis refused", inject: () => link.cut(), clear: () => link.restore(), reason: "error" },
      {
        name: "Redis hung",
        inject: () => link.setMode({ kind: "hang" }),
        clear: () => link.setMode({ kind: "pass" }),
        reason: "timeout",
      },
      {
        name: "Redis slow (1 s)",
        inject: () => link.setMode({ kind: "delay", ms: 1_000 }),
        clear: () => link.setMode({ kind: "pass" }),
        reason: "timeout",
      },
      {
        name: "Redis reset",
        inject: () => link.setMode({ kind: "reset" }),
        clear: () => link.setMode({ kind: "pass" }),
        reason: "error",
      },
      {
        name: "Upstash 500",
        inject: () => front.setMode({ kind: "status", status: 500 }),
        clear: () => front.setMode({ kind: "pass" }),
        reason: "error",
      },
      {
        name: "Upstash 401",
        inject: () => front.setMode({ kind: "wrong-token" }),
        clear: () => front.setMode({ kind: "pass" }),
        reason: "error",
      },
      {
        name: "Upstash reset mid-request",
        inject: () => front.setMode({ kind: "reset" }),
        clear: () => front.setMode({ kind: "pass" }),
        reason: "error",
      },
    ];

    for (const c of cases) {
      it(`${c.name}: the limiter allows (${c.reason}), the cache misses (${c.reason}), within the timeout`, async () => {
        await redisBack();
        const { limiter, cache, metrics, breaker } = build(5, { url: front.url, token }, TIMEOUT_MS);
        const tenantId = randomUUID();
        // healthy first: the same objects enforce and hit
        await cache.set(`t:${tenantId}:x`, 1, 60);
        expect(await cache.get(`t:${tenantId}:x`)).toEqual({ status: "hit", value: 1 });
        expect((await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 10 })).mode).toBe("enforced");
        await c.inject();
        try {
          let started = performance.now();
          const read = await cache.get(`t:${tenantId}:x`);
          const readMs = performance.now() - started;
          started = performance.now();
          const decision = await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 10 });
          const checkMs = performance.now() - started;
          expect(read).toEqual({ status: "bypassed", reason: c.reason });
          expect(decision).toEqual({ allowed: true, mode: "bypassed", reason: c.reason });
          // the retry of the cache client shares the deadline: never two timeouts
          expect(readMs).toBeLessThan(TIMEOUT_MS + 120);
          expect(checkMs).toBeLessThan(TIMEOUT_MS + 120);
          // three more failures open the breaker (5 of the last 10): then nothing is tried
          await cache.set(`t:${tenantId}:x`, 2, 60);
          await cache.del(`t:${tenantId}:x`);
          await cache.get(`t:${tenantId}:y`);
          expect(breaker.state).toBe("open");
          started = performance.now();
          expect(await limiter.check({ tenantId, keyId: "k", requestsPerMinute: 10 })).toEqual({
            allowed: true,
            mode: "bypassed",
            reason: "circuit_open",
          });
          expect(await cache.get(`t:${tenantId}:x`)).toEqual({ status: "bypassed", reason: "circuit_open" });
          expect(performance.now() - started).toBeLessThan(20);
          expect(metrics.totals()).toMatchObject({
            rate_limit_bypass_count: 2,
            cache_bypass_count: 3,
            cache_write_failures: 2,
            redis_connection_status: 0,
          });
        } finally {
          await c.clear();
        }
      });
    }
  });
});
