import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { type CapturedOutput, captureOutput, logRecords } from "./capture";

/**
 * The cost-anomaly scan job end to end: its handler, its composition root, the RPC
 * cost_spend_window through the local Supabase endpoint, over cost_events seeded in the past (so the
 * turns other test files bill today never fall in the window).
 */

const UNTIL = "2020-01-01T00:05:00.000Z";
const BUCKET_MS = 300_000;

describe.runIf(hasPostgres())("cost anomaly scan", () => {
  let api: TestApi;
  let out: CapturedOutput;
  const tenants: Record<"steady" | "spike" | "newSmall" | "newBig", string> = {
    steady: "",
    spike: "",
    newSmall: "",
    newBig: "",
  };

  /** One cost event (and the turn it belongs to) at `at`. */
  const bill = async (tenantId: string, at: Date | string, usd: string) => {
    await api.db.query(
      `with p as (
         insert into public.model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok, effective_from)
         values ('openai', $4, 1, 1, '2019-01-01') on conflict (provider, model, effective_from) do update set model = excluded.model
         returning id),
       t as (
         insert into public.turns (tenant_id, request_hash, status, model, provider, pricing_id, created_at)
         select $1, 'seed', 'completed', $4, 'openai', p.id, $2 from p returning id, pricing_id)
       insert into public.cost_events (tenant_id, turn_id, pricing_id, provider, model, input_tokens, output_tokens,
                                       cost_usd, created_at)
       select $1, t.id, t.pricing_id, 'openai', $4, 1, 1, $3::numeric, $2 from t`,
      [tenantId, typeof at === "string" ? at : at.toISOString(), usd, "anomaly-seed-model"],
    );
  };

  beforeAll(async () => {
    out = captureOutput();
    api = await startTestApi({ env: { LOG_LEVEL: "INFO" } });
    for (const k of Object.keys(tenants) as (keyof typeof tenants)[])
      tenants[k] = (await api.createTenant()).tenantId;
    const until = Date.parse(UNTIL);
    const currentStart = until - BUCKET_MS;
    // a day of steady spend for two tenants: 10 cents in each bucket before the current one
    await api.db.query(
      `with p as (
         insert into public.model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok, effective_from)
         values ('openai', 'anomaly-seed-model', 1, 1, '2019-01-01')
         on conflict (provider, model, effective_from) do update set model = excluded.model returning id),
       slots as (
         select tid, $2::timestamptz - (i * interval '5 minutes') + interval '1 minute' as at
           from unnest($1::uuid[]) tid, generate_series(1, 288) i),
       t as (
         insert into public.turns (tenant_id, request_hash, status, model, provider, pricing_id, created_at)
         select tid, 'seed', 'completed', 'anomaly-seed-model', 'openai', p.id, at from slots, p
         returning id, tenant_id, pricing_id, created_at)
       insert into public.cost_events (tenant_id, turn_id, pricing_id, provider, model, input_tokens, output_tokens,
                                       cost_usd, created_at)
       select tenant_id, id, pricing_id, 'openai', 'anomaly-seed-model', 1, 1, 0.10, created_at from t`,
      [[tenants.steady, tenants.spike], new Date(currentStart).toISOString()],
    );
    // older than the baseline window: must not count
    await bill(tenants.newBig, new Date(currentStart - 289 * BUCKET_MS - 1000), "1000");
    // the current bucket [00:00, 00:05): its start is in, its end is out
    await bill(tenants.steady, new Date(currentStart), "0.12");
    await bill(tenants.steady, UNTIL, "500");
    await bill(tenants.spike, new Date(currentStart + 60_000), "5");
    await bill(tenants.newSmall, new Date(currentStart + 60_000), "0.5");
    await bill(tenants.newBig, new Date(currentStart + 60_000), "3");
  }, 60_000);

  afterAll(async () => {
    out?.restore();
    await api?.stop();
  });

  it("returns each tenant's current bucket and a sparse baseline, bounded by its arguments", async () => {
    const core = await api.core();
    const w = await core.rpc.call<{
      tenants_with_spend: number;
      tenants: { tenant_id: string; current_usd: string; baseline: [number, string][] }[];
    }>("cost_spend_window", {
      p_until: UNTIL,
      p_bucket_seconds: 300,
      p_baseline_buckets: 288,
      p_max_tenants: 500,
    });
    expect(w.tenants_with_spend).toBe(4);
    const byId = new Map(w.tenants.map((t) => [t.tenant_id, t]));
    expect(Number(byId.get(tenants.steady)?.current_usd)).toBe(0.12);
    expect(Number(byId.get(tenants.spike)?.current_usd)).toBe(5);
    const steady = byId.get(tenants.steady)?.baseline ?? [];
    expect(steady).toHaveLength(288);
    expect(steady[0]).toEqual([0, expect.stringMatching(/^0\.10*$/)]);
    expect(steady.at(-1)?.[0]).toBe(287);
    // the 1000 USD event is 289 buckets old: outside the window
    expect(byId.get(tenants.newBig)?.baseline).toEqual([]);
    // biggest spenders first, at most p_max_tenants
    const top = await core.rpc.call<{ tenants_with_spend: number; tenants: { tenant_id: string }[] }>(
      "cost_spend_window",
      { p_until: UNTIL, p_max_tenants: 1 },
    );
    expect(top.tenants.map((t) => t.tenant_id)).toEqual([tenants.spike]);
    expect(top.tenants_with_spend).toBe(4);
    await expect(
      core.rpc.call("cost_spend_window", { p_until: UNTIL, p_baseline_buckets: 5000 }),
    ).rejects.toMatchObject({ code: "invalid_request", param: "baseline_buckets" });
  });

  it("is for the service role only", async () => {
    for (const role of ["anon", "authenticated"]) {
      await expect(
        api.db.transaction(async (tx) => {
          await tx.query(`select set_config('role', '${role}', true)`);
          return tx.query(`select public.cost_spend_window(now())`);
        }),
      ).rejects.toMatchObject({ code: "42501" });
    }
  });

  it("flags the spike and the big newcomer, counts them, and logs each with its tenant", async () => {
    const { handler } = await import("../../packages/functions/src/jobs/anomaly-scan");
    const { core } = await import("../../packages/functions/src/jobs/root");
    const mark = out.mark();
    // a run delivered 7 s late still judges the bucket that ended at 00:05
    const report = await handler({ time: "2020-01-01T00:05:07Z" });
    expect(report.until).toBe(UNTIL);
    expect(report.scanned).toBe(4);
    expect(report.anomalies.map((a) => a.tenantId).sort()).toEqual([tenants.spike, tenants.newBig].sort());
    const spike = report.anomalies.find((a) => a.tenantId === tenants.spike);
    expect(spike?.meanUsd).toBeCloseTo(0.1, 10);
    expect(core.metrics.totals().cost_anomaly_count).toBe(2);

    const logs = logRecords(out.lines(mark)).filter((r) => r.service === "candor-jobs");
    const flagged = logs.filter((r) => r.message === "cost anomaly").map((r) => r.tenant_id);
    expect(flagged.sort()).toEqual([tenants.spike, tenants.newBig].sort());
    const summary = logs.find((r) => r.message === "cost anomaly scan");
    expect(summary).toMatchObject({ scanned: 4, anomalies: 2, job: "cost-anomaly-scan", stage: "test" });

    // a bucket with no spend at all: nothing scanned, a zero count (the alarm sees a datapoint)
    const quiet = await handler({ time: `2019-06-01T00:00:00Z` });
    expect(quiet).toMatchObject({ scanned: 0, anomalies: [] });
    expect(core.metrics.totals().cost_anomaly_count).toBe(2);
  });

  it("fails the invocation when the database is down (the lambda-errors alarm counts it)", async () => {
    const { handler } = await import("../../packages/functions/src/jobs/anomaly-scan");
    await api.postgresLink.cut();
    try {
      await expect(handler({ time: UNTIL })).rejects.toMatchObject({ code: "store_unavailable" });
    } finally {
      await api.postgresLink.restore();
    }
  });

  it("has nothing for a window without spend", async () => {
    const core = await api.core();
    const w = await core.rpc.call<{ tenants_with_spend: number; tenants: unknown[] }>("cost_spend_window", {
      p_until: "2020-01-02T00:00:00Z",
    });
    expect(w).toMatchObject({ tenants_with_spend: 0, tenants: [] });
  });
});
