import { ConfigError, chooseAdapters, loadConfig } from "@candor/core";
import { describe, expect, it } from "vitest";

const base = { SUPABASE_URL: "https://abc.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "service-key" };

describe("loadConfig", () => {
  it("refuses to start without the system of record, naming each missing variable", () => {
    try {
      loadConfig({ CANDOR_STAGE: "prod" });
      expect.unreachable("loadConfig accepted a config without Supabase");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const err = e as ConfigError;
      expect(err.variables).toEqual(["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"]);
      expect(err.message).toContain("SUPABASE_URL");
      expect(err.message).toContain("README.md");
    }
  });

  it("has no default for Supabase in the local stage either", () => {
    expect(() => loadConfig({ SUPABASE_SERVICE_ROLE_KEY: "k" })).toThrow(/SUPABASE_URL/);
  });

  it("rejects a malformed URL and a half-configured Upstash", () => {
    expect(() => loadConfig({ ...base, SUPABASE_URL: "not a url" })).toThrow(/SUPABASE_URL/);
    expect(() => loadConfig({ ...base, UPSTASH_REDIS_REST_URL: "https://x.upstash.io" })).toThrow(
      /UPSTASH_REDIS_REST_TOKEN/,
    );
    expect(() => loadConfig({ ...base, REDIS_TIMEOUT_MS: "fast" })).toThrow(/REDIS_TIMEOUT_MS/);
  });

  it("applies stated defaults for tuning values", () => {
    const c = loadConfig(base);
    expect(c.stage).toBe("local");
    expect(c.redis.timeoutMs).toBe(150);
    expect(c.cache.authTtlSeconds).toBe(60);
    expect(c.maxBodyBytes).toBe(256 * 1024);
    expect(c.upstash).toBeUndefined();
  });
});

describe("chooseAdapters (once per cold start)", () => {
  it("picks NoOp everywhere without Upstash", () => {
    expect(chooseAdapters(loadConfig(base))).toMatchObject({
      rateLimiter: "noop",
      authCache: "noop",
      conversationCache: "noop",
    });
  });

  it("picks Upstash when configured, and honours each ENABLE_* flag", () => {
    const up = { ...base, UPSTASH_REDIS_REST_URL: "https://x.upstash.io", UPSTASH_REDIS_REST_TOKEN: "t" };
    expect(chooseAdapters(loadConfig(up))).toMatchObject({
      rateLimiter: "upstash",
      authCache: "upstash",
      conversationCache: "upstash",
    });
    expect(
      chooseAdapters(
        loadConfig({ ...up, ENABLE_RATE_LIMITER_REDIS: "false", ENABLE_CONVERSATION_CACHING: "false" }),
      ),
    ).toMatchObject({ rateLimiter: "noop", authCache: "upstash", conversationCache: "noop" });
  });
});
