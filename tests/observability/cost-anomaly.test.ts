import { describe, expect, it } from "vitest";
import {
  bucketEnd,
  denseBaseline,
  judge,
  DEFAULT_COST_ANOMALY_SETTINGS as S,
} from "../../packages/core/src/observability/cost-anomaly";

describe("judge", () => {
  const flat = new Array<number>(288).fill(0.1);

  it("needs all three: above mean + 4σ, above 3 × the mean, above the USD floor", () => {
    // flat baseline: σ = 0, so 3 × mean (0.30) and the floor (1) decide
    expect(judge(0.9, flat, S).anomalous).toBe(false);
    expect(judge(1.01, flat, S)).toMatchObject({ anomalous: true, threshold: 1 });
    const big = new Array<number>(288).fill(10);
    expect(judge(29.9, big, S).anomalous).toBe(false);
    expect(judge(30.1, big, S).anomalous).toBe(true);
  });

  it("lets a noisy tenant be noisy: the deviation raises the bar", () => {
    const noisy = Array.from({ length: 288 }, (_, i) => (i % 2 === 0 ? 0 : 20)); // mean 10, σ 10
    const v = judge(45, noisy, S);
    expect(v.mean).toBe(10);
    expect(v.stddev).toBe(10);
    expect(v.threshold).toBe(50);
    expect(v.anomalous).toBe(false);
    expect(judge(50.01, noisy, S).anomalous).toBe(true);
  });

  it("judges a tenant without history on the floor alone", () => {
    expect(judge(0.99, [], S).anomalous).toBe(false);
    expect(judge(1.5, [], S).anomalous).toBe(true);
  });
});

describe("denseBaseline", () => {
  it("places the sparse [ago, usd] pairs and keeps zeros, within the bound", () => {
    expect(
      denseBaseline(
        [
          [0, "1.5"],
          [3, "0.25"],
          [9, "7"],
          [-1, "7"],
        ],
        5,
      ),
    ).toEqual([1.5, 0, 0, 0.25, 0]);
  });
});

describe("bucketEnd", () => {
  it("is the grid point at or before the time", () => {
    expect(bucketEnd(Date.parse("2026-01-01T12:05:07Z"), 300).toISOString()).toBe("2026-01-01T12:05:00.000Z");
    expect(bucketEnd(Date.parse("2026-01-01T12:05:00Z"), 300).toISOString()).toBe("2026-01-01T12:05:00.000Z");
    expect(bucketEnd(Date.parse("2026-01-01T12:04:59.999Z"), 300).toISOString()).toBe(
      "2026-01-01T12:00:00.000Z",
    );
  });
});

describe("anomalySettings (the job's environment)", () => {
  it("takes the stated defaults, accepts overrides, refuses values out of range", async () => {
    const { anomalySettings } = await import("../../packages/functions/src/jobs/settings");
    expect(anomalySettings({})).toEqual(S);
    expect(anomalySettings({ COST_ANOMALY_SIGMA: "6", COST_ANOMALY_MIN_USD: "0.5" })).toMatchObject({
      sigma: 6,
      minUsd: 0.5,
      ratio: S.ratio,
    });
    expect(() => anomalySettings({ COST_ANOMALY_BASELINE_BUCKETS: "5000" })).toThrow(
      /COST_ANOMALY_BASELINE_BUCKETS/,
    );
    expect(() => anomalySettings({ COST_ANOMALY_RATIO: "lots" })).toThrow(/COST_ANOMALY_RATIO/);
  });
});
