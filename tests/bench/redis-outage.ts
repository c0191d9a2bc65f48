/**
 * redis-outage: the chat turn with Redis healthy, stopped (the TCP link between the Upstash endpoint
 * and Redis cut: connections refused, as if Redis were stopped) and hung (connections accepted,
 * nothing answered), with the deployed settings (REDIS_TIMEOUT_MS 150, breaker opening at 5
 * failures of 10, open 5000 ms, background probe).
 *
 * Per phase, in this order:
 * 1. the fault is injected, then the first TRANSIENT turns (concurrency 1) are timed on their own:
 *    the ones that meet the fault before the breaker opens;
 * 2. a latency sample at concurrency 1: p50/p99, and added p99 = this p99 − the healthy p99;
 * 3. the bulk at concurrency 16 (20,000 turns while Redis is stopped; fewer in the other phases):
 *    throughput, p99, statuses (fail open: every answer 201), round trips per turn, bypass counters,
 *    and the API process's heap after full GCs before and after it.
 * Then the link is restored and turns are sent until the breaker has closed again.
 */
import type { ApiState } from "./support/api-child";
import type { ApiChild } from "./support/children";
import { type BenchContext, fmt, v } from "./support/context";
import { keepAliveAgent, runLoad } from "./support/load";
import type { BenchResult, TableRow } from "./support/machine";
import type { RedisLinkMode } from "./support/services-child";
import { round, roundSummary, sleep, summarize } from "./support/stats";
import { candorTurnTarget, createConversations, TURNS_PER_CONVERSATION } from "./support/targets";

const MB = 1024 * 1024;
const COUNTERS = ["rate_limit_bypass_count", "cache_bypass_count"] as const;
const TRANSIENT = 20;

interface PhasePlan {
  mode: RedisLinkMode;
  name: string;
  sample: number;
  bulk: number;
  /** Time cap of the bulk (runLoad's maxMs): a busy machine sends fewer, and the figures say how many. */
  bulkMaxMs: number;
}

export async function redisOutage(ctx: BenchContext): Promise<BenchResult> {
  const stack = await ctx.stack();
  const api = await stack.startApi("outage");
  const tenant = await stack.createTenant();
  const concurrency = 16;
  const warmup = ctx.n(500);
  const plan: PhasePlan[] = [
    { mode: "pass", name: "healthy", sample: ctx.n(300), bulk: ctx.n(2_000), bulkMaxMs: 25_000 },
    { mode: "cut", name: "stopped", sample: ctx.n(300), bulk: ctx.n(20_000), bulkMaxMs: 160_000 },
    { mode: "hang", name: "hung", sample: ctx.n(300), bulk: ctx.n(2_000), bulkMaxMs: 25_000 },
  ];
  const total = warmup + plan.reduce((a, p) => a + TRANSIENT + p.sample + p.bulk + 400, 0);
  const conversations = await createConversations(
    stack.db,
    tenant.tenantId,
    Math.ceil(total / TURNS_PER_CONVERSATION),
  );
  const agent = keepAliveAgent(concurrency);
  const target = candorTurnTarget(api.url, tenant.key, conversations, agent);
  let offset = 0;
  const load = async (requests: number, c: number, maxMs?: number) => {
    const r = await runLoad(target, { concurrency: c, requests, offset, ...(maxMs ? { maxMs } : {}) });
    offset += r.sent;
    return r;
  };
  ctx.log(
    `redis-outage: warm-up ${warmup}, then per phase ${TRANSIENT} + sample at c=1 + bulk at c=${concurrency}`,
  );
  const w = await load(warmup, concurrency);
  // a stray failure is a figure (reported), a failing route is a broken benchmark
  if (w.failed > warmup / 20) throw new Error(`warm-up failed: ${w.failed} of ${warmup}: ${w.firstFailure}`);

  const figures: Record<string, unknown> = {
    warmup: {
      requests: w.sent,
      failed: w.failed,
      ...(w.firstFailure ? { firstFailure: w.firstFailure } : {}),
    },
  };
  const rows: TableRow[] = [];
  let healthyP50 = Number.NaN;
  let healthyP99 = Number.NaN;
  let healthyBulkP99 = Number.NaN;
  for (const p of plan) {
    await stack.setRedisLink(p.mode);
    const transient = await load(TRANSIENT, 1);
    const sample = await load(p.sample, 1);
    const heapBefore = await api.settledMemory();
    const stateBefore = await api.state();
    await stack.resetCounts();
    const bulk = await load(p.bulk, concurrency, p.bulkMaxMs);
    const counts = await stack.counts();
    const stateAfter = await api.state();
    const heapAfter = await api.settledMemory();
    await stack.setRedisLink("pass");
    const healRequests = p.mode === "pass" ? 0 : await heal(api, () => load(20, 4));

    const sampleLatency = roundSummary(summarize(sample.latencies), 2);
    const bulkLatency = roundSummary(summarize(bulk.latencies), 2);
    if (p.mode === "pass") {
      healthyP50 = sampleLatency.p50;
      healthyP99 = sampleLatency.p99;
      healthyBulkP99 = bulkLatency.p99;
    }
    const n = bulk.sent;
    const delta = (k: string) => (stateAfter.totals[k] ?? 0) - (stateBefore.totals[k] ?? 0);
    const allStatuses: Record<string, number> = {};
    for (const r of [transient, sample, bulk])
      for (const [k, v] of Object.entries(r.statuses)) allStatuses[k] = (allStatuses[k] ?? 0) + v;
    const errors = transient.failed + sample.failed + bulk.failed;
    const phase = {
      statuses: allStatuses,
      errors,
      transient: {
        requests: transient.sent,
        maxMs: round(Math.max(...transient.latencies), 1),
        over100Ms: transient.latencies.filter((ms) => ms > 100).length,
      },
      concurrency1: {
        latencyMs: sampleLatency,
        addedP50Ms: round(sampleLatency.p50 - healthyP50, 2),
        addedP99Ms: round(sampleLatency.p99 - healthyP99, 2),
      },
      concurrency16: {
        requests: n,
        requestsPlanned: p.bulk,
        latencyMs: bulkLatency,
        addedP99Ms: round(bulkLatency.p99 - healthyBulkP99, 2),
        requestsPerSecond: round((n / bulk.elapsedMs) * 1000, 1),
        over100Ms: bulk.latencies.filter((ms) => ms > 100).length,
        dbRoundTripsPerTurn: round(counts.db / n, 3),
        redisRoundTripsPerTurn: round(counts.redis / n, 3),
        cpuMsPerTurn: round((cpuMs(stateAfter) - cpuMs(stateBefore)) / n, 3),
        counters: Object.fromEntries(COUNTERS.map((k) => [k, delta(k)])),
        breakerAtEnd: stateAfter.breaker,
        heapUsedMB: {
          before: round(heapBefore.heapUsed / MB, 2),
          after: round(heapAfter.heapUsed / MB, 2),
          growth: round((heapAfter.heapUsed - heapBefore.heapUsed) / MB, 2),
          growthPer1000TurnsKB: round((heapAfter.heapUsed - heapBefore.heapUsed) / 1024 / (n / 1000), 1),
        },
        rssMB: { before: round(heapBefore.rss / MB, 1), after: round(heapAfter.rss / MB, 1) },
      },
      healRequests,
      ...((transient.firstFailure ?? sample.firstFailure ?? bulk.firstFailure)
        ? { firstFailure: transient.firstFailure ?? sample.firstFailure ?? bulk.firstFailure }
        : {}),
    };
    figures[p.name] = phase;
    const b = phase.concurrency16;
    ctx.log(
      `  ${p.name}: c=1 p50 ${fmt(sampleLatency.p50)} p99 ${fmt(sampleLatency.p99)}; c=16 ${v(b.requestsPerSecond)} rps ` +
        `p99 ${fmt(bulkLatency.p99)}; ${errors} errors; heap ${b.heapUsedMB.before} → ${b.heapUsedMB.after} MB over ` +
        `${n} turns; ${b.dbRoundTripsPerTurn} DB / ${b.redisRoundTripsPerTurn} Redis per turn; first ${TRANSIENT}: max ${fmt(phase.transient.maxMs, 1)}`,
    );
    const healthy = p.mode === "pass";
    const signed = (n: number) => `${n >= 0 ? "+" : ""}${v(n)}`;
    const c1 = phase.concurrency1;
    rows.push({
      benchmark: "redis-outage",
      metric: `${p.name}: p50 / p99 at c=1${healthy ? "" : " (added)"}; heap after GC before → after ${n.toLocaleString("en-US")} turns at c=16`,
      candor:
        `${v(sampleLatency.p50)} / ${v(sampleLatency.p99)} ms` +
        (healthy ? "" : ` (${signed(c1.addedP50Ms)} / ${signed(c1.addedP99Ms)})`) +
        `; ${b.heapUsedMB.before} → ${b.heapUsedMB.after} MB; ${errors} errors; ${v(b.requestsPerSecond)} rps` +
        (healthy ? "" : `; first ${TRANSIENT} turns max ${v(phase.transient.maxMs)} ms`),
      anchor: healthy
        ? "—"
        : p.mode === "cut"
          ? "OpenAI 2023-10-19: Redis-backed auth cache failure took the API down; LiteLLM #14540: memory growth"
          : "@upstash/ratelimit waits 5,000 ms by default; @upstash/redis has no default timeout",
    });
  }
  agent.destroy();
  await api.stop();
  return {
    name: "redis-outage",
    settings: {
      route: "POST /v1/conversations/{id}/messages",
      phases: {
        healthy: "TCP link Upstash endpoint → Redis passes bytes",
        stopped: "link cut: listener closed, connections dropped (ECONNREFUSED), as if Redis were stopped",
        hung: "link hung: connections accepted, no byte forwarded either way",
      },
      plan: { warmup, transientTurns: TRANSIENT, phases: plan, bulkConcurrency: concurrency },
      candorEnv:
        "deployed defaults: REDIS_TIMEOUT_MS 150, REDIS_BREAKER_FAILURE_THRESHOLD 5, REDIS_BREAKER_WINDOW 10, REDIS_BREAKER_OPEN_MS 5000",
      heap: "process.memoryUsage().heapUsed in the API process (started with --expose-gc) after a 500 ms settle and 4 full GCs",
    },
    figures,
    notes: [
      "Added p99 at concurrency 1 is the cleaner figure (no queueing); at concurrency 16 every process shares 2 cores and the p99 is mostly queueing.",
      "During an outage the auth cache fails through to the database (one more round trip per turn) and the limiter fails open (rate_limit_bypass_count).",
      "Between phases the link is restored and turns are sent until the breaker is closed again, so each phase starts healthy.",
    ],
    rows,
  };
}

const cpuMs = (s: ApiState) => (s.cpu.user + s.cpu.system) / 1000;

/** Sends a few turns at a time until the breaker is closed again (bounded: 30 s). */
async function heal(api: ApiChild, send: () => Promise<unknown>): Promise<number> {
  const deadline = Date.now() + 30_000;
  let sent = 0;
  while (Date.now() < deadline) {
    await send();
    sent += 20;
    if ((await api.state()).breaker === "closed") return sent;
    await sleep(250);
  }
  throw new Error("the breaker did not close within 30 s of Redis coming back");
}
