import { CircuitBreaker, CircuitOpenError, DependencyStatus } from "@candor/core";
import { describe, expect, it } from "vitest";
import { recordingLog, recordingMetrics } from "../support/fake-observability";

function setup(
  o: { threshold?: number; window?: number; openMs?: number; probe?: () => Promise<unknown> } = {},
) {
  let now = 1_000_000;
  const metrics = recordingMetrics();
  const log = recordingLog();
  const status = new DependencyStatus("redis", "redis_connection_status", log, metrics);
  const breaker = new CircuitBreaker({
    failureThreshold: o.threshold ?? 3,
    ...(o.window !== undefined ? { window: o.window } : {}),
    openMs: o.openMs ?? 1_000,
    ...(o.probe ? { probe: o.probe } : {}),
    status,
    now: () => now,
  });
  let calls = 0;
  const ok = () => breaker.run(async () => ++calls);
  const fail = () =>
    breaker.run(async () => {
      calls++;
      throw new Error("ECONNREFUSED");
    });
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: unknown) => (e instanceof CircuitOpenError ? "refused" : "failed"),
    );
  return {
    breaker,
    metrics,
    log,
    ok,
    fail,
    outcome,
    calls: () => calls,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe("CircuitBreaker", () => {
  it("opens after `threshold` consecutive failures and then refuses without calling Redis", async () => {
    const t = setup({ threshold: 3 });
    expect(await t.outcome(t.fail())).toBe("failed");
    expect(await t.outcome(t.fail())).toBe("failed");
    expect(t.breaker.state).toBe("closed");
    expect(await t.outcome(t.fail())).toBe("failed");
    expect(t.breaker.state).toBe("open");
    const before = t.calls();
    for (let i = 0; i < 50; i++) expect(await t.outcome(t.ok())).toBe("refused");
    expect(t.calls()).toBe(before);
    expect(t.metrics.totals().redis_connection_status).toBe(0);
  });

  it("a success in between keeps it closed when the window is the threshold (consecutive failures)", async () => {
    const t = setup({ threshold: 3 });
    for (let i = 0; i < 20; i++) {
      await t.outcome(t.fail());
      await t.outcome(t.fail());
      await t.outcome(t.ok());
    }
    expect(t.breaker.state).toBe("closed");
  });

  it("with a window it opens on a failure rate (5 of the last 10), not only on failures in a row", async () => {
    const t = setup({ threshold: 5, window: 10 });
    // 4 failures in 10 calls: stays closed
    for (const failed of [1, 0, 0, 1, 0, 0, 1, 0, 1, 0]) await t.outcome(failed ? t.fail() : t.ok());
    expect(t.breaker.state).toBe("closed");
    // alternating from here: the window reaches 5 failures of 10 and opens
    for (let i = 0; i < 4 && t.breaker.state === "closed"; i++) {
      await t.outcome(t.fail());
      if (t.breaker.state === "closed") await t.outcome(t.ok());
    }
    expect(t.breaker.state).toBe("open");
  });

  it("refuses a window smaller than the threshold (it could never open)", () => {
    const t = setup();
    expect(
      () =>
        new CircuitBreaker({
          failureThreshold: 5,
          window: 4,
          openMs: 100,
          status: new DependencyStatus("redis", "redis_connection_status", t.log, t.metrics),
        }),
    ).toThrow(RangeError);
  });

  it("after openMs lets exactly one probe through; its success closes the circuit", async () => {
    const t = setup({ threshold: 1, openMs: 1_000 });
    await t.outcome(t.fail());
    t.advance(999);
    expect(await t.outcome(t.ok())).toBe("refused");
    t.advance(1);
    expect(t.breaker.state).toBe("half_open");

    let release: (v: number) => void = () => {};
    const probe = t.breaker.run(() => new Promise<number>((r) => (release = r)));
    // while the probe is in flight, everyone else is still refused
    expect(await t.outcome(t.ok())).toBe("refused");
    release(1);
    await probe;
    expect(t.breaker.state).toBe("closed");
    expect(await t.outcome(t.ok())).toBe("ok");
    expect(t.metrics.totals().redis_connection_status).toBe(1);
    expect(t.log.lines.map((l) => l.attributes?.to)).toEqual(["down", "up"]);
  });

  it("a failed probe re-opens for another full openMs", async () => {
    const t = setup({ threshold: 1, openMs: 1_000 });
    await t.outcome(t.fail());
    t.advance(1_000);
    expect(await t.outcome(t.fail())).toBe("failed"); // the probe
    expect(t.breaker.state).toBe("open");
    t.advance(999);
    expect(await t.outcome(t.ok())).toBe("refused");
    t.advance(1);
    expect(await t.outcome(t.ok())).toBe("ok");
    expect(t.breaker.state).toBe("closed");
  });

  it("a probe that never settles does not keep the circuit open forever", async () => {
    const t = setup({ threshold: 1, openMs: 1_000 });
    await t.outcome(t.fail());
    t.advance(1_000);
    void t.breaker.run(() => new Promise<never>(() => {}));
    expect(await t.outcome(t.ok())).toBe("refused");
    t.advance(1_000);
    expect(await t.outcome(t.ok())).toBe("ok");
  });

  it("a late success of a call started before the circuit opened does not close it", async () => {
    const t = setup({ threshold: 2 });
    let release: (v: number) => void = () => {};
    const slow = t.breaker.run(() => new Promise<number>((r) => (release = r)));
    await t.outcome(t.fail());
    await t.outcome(t.fail());
    expect(t.breaker.state).toBe("open");
    release(1);
    await slow;
    expect(t.breaker.state).toBe("open");
    expect(await t.outcome(t.ok())).toBe("refused");
  });

  it("logs only on state changes, however many calls fail", async () => {
    const t = setup({ threshold: 2 });
    for (let i = 0; i < 100; i++) await t.outcome(t.fail());
    expect(t.log.lines).toHaveLength(1);
    expect(t.log.lines[0]?.attributes).toMatchObject({ dependency: "redis", to: "down" });
    // but the gauge is reported on every call once it is open, so the alarm sees a steady 0
    const gauges = t.metrics.gauges.get("redis_connection_status") ?? [];
    expect(gauges).toHaveLength(99);
    expect(gauges.every((v) => v === 0)).toBe(true);
  });

  it("a failed call while the circuit stays closed is not reported as Redis down", async () => {
    const t = setup({ threshold: 5, window: 10 });
    await t.outcome(t.ok());
    await t.outcome(t.fail());
    await t.outcome(t.ok());
    expect(t.log.lines).toHaveLength(0);
    expect(t.metrics.gauges.get("redis_connection_status")).toEqual([1, 1]);
  });

  describe("with a background probe", () => {
    function probed(openMs = 1_000) {
      const probes: { resolve: () => void; reject: (e: Error) => void }[] = [];
      const probe = () =>
        new Promise<void>((resolve, reject) => {
          probes.push({ resolve, reject });
        });
      return { t: setup({ threshold: 1, openMs, probe }), probes };
    }
    const tick = () => new Promise((r) => setTimeout(r, 0));

    it("no call waits on the probe: the call that starts it is refused at once, like the others", async () => {
      const { t, probes } = probed();
      await t.outcome(t.fail());
      t.advance(1_000);
      const calls = t.calls();
      expect(await t.outcome(t.ok())).toBe("refused");
      expect(probes).toHaveLength(1);
      // one probe at a time
      expect(await t.outcome(t.ok())).toBe("refused");
      expect(probes).toHaveLength(1);
      expect(t.calls()).toBe(calls);
      probes[0]?.resolve();
      await tick();
      expect(t.breaker.state).toBe("closed");
      expect(await t.outcome(t.ok())).toBe("ok");
      expect(t.metrics.totals().redis_connection_status).toBe(1);
    });

    it("a failed background probe re-opens for another openMs, then probes again", async () => {
      const { t, probes } = probed();
      await t.outcome(t.fail());
      t.advance(1_000);
      await t.outcome(t.ok());
      probes[0]?.reject(new Error("ECONNREFUSED"));
      await tick();
      expect(t.breaker.state).toBe("open");
      t.advance(999);
      expect(await t.outcome(t.ok())).toBe("refused");
      expect(probes).toHaveLength(1);
      t.advance(1);
      expect(await t.outcome(t.ok())).toBe("refused");
      expect(probes).toHaveLength(2);
    });

    it("does not probe while no call comes (nothing runs on its own)", async () => {
      const { t, probes } = probed();
      await t.outcome(t.fail());
      t.advance(60_000);
      expect(probes).toHaveLength(0);
    });
  });
});
