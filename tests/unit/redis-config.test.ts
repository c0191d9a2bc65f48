import { ConfigError, loadConfig } from "@candor/core";
import { describe, expect, it } from "vitest";

const base = { SUPABASE_URL: "https://abc.supabase.co", SUPABASE_SERVICE_ROLE_KEY: "service-key" };

describe("Redis settings", () => {
  it("defaults: 150 ms per call, breaker opens at 5 failures of the last 10, stays open 5 s", () => {
    expect(loadConfig(base).redis).toMatchObject({
      timeoutMs: 150,
      breakerFailureThreshold: 5,
      breakerWindow: 10,
      breakerOpenMs: 5_000,
    });
  });

  it("refuses a failure threshold above the window: the breaker could never open", () => {
    try {
      loadConfig({ ...base, REDIS_BREAKER_FAILURE_THRESHOLD: "20" });
      expect.unreachable("a breaker that can never open was accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).variables).toEqual([
        "REDIS_BREAKER_FAILURE_THRESHOLD",
        "REDIS_BREAKER_WINDOW",
      ]);
    }
    expect(
      loadConfig({ ...base, REDIS_BREAKER_FAILURE_THRESHOLD: "20", REDIS_BREAKER_WINDOW: "40" }).redis,
    ).toMatchObject({
      breakerFailureThreshold: 20,
      breakerWindow: 40,
    });
  });
});
