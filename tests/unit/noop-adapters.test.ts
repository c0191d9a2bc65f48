import { NoOpCache, NoOpRateLimiter } from "@candor/core";
import { describe, expect, it } from "vitest";

describe("NoOp adapters (no Redis configured, or switched off)", () => {
  it("the NoOp limiter always allows, says bypassed/noop, and never reports a limit", async () => {
    const limiter = new NoOpRateLimiter();
    expect(limiter.type).toBe("noop");
    const requests = [
      { tenantId: "t", keyId: "k", requestsPerMinute: 1, tokensPerMinute: 1, tokens: 1_000_000 },
      { tenantId: "t", keyId: "k", requestsPerMinute: 1, keyRequestsPerMinute: 1 },
      { tenantId: "t", keyId: "k" },
    ];
    for (let i = 0; i < 1_000; i++) {
      const decision = await limiter.check(requests[i % requests.length] as (typeof requests)[number]);
      expect(decision).toEqual({ allowed: true, mode: "bypassed", reason: "noop" });
    }
  });

  it("the NoOp cache always misses, even right after a write", async () => {
    const cache = new NoOpCache();
    expect(cache.type).toBe("noop");
    await cache.set("t:1:k", { value: 1 }, 60);
    expect(await cache.get("t:1:k")).toEqual({ status: "bypassed", reason: "noop" });
    await cache.del("t:1:k");
    expect(await cache.get("t:1:k")).toEqual({ status: "bypassed", reason: "noop" });
  });
});
