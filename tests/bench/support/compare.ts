/**
 * Side-by-side measurement of several targets at one concurrency: the direct call to the fake
 * provider, Candor, the peer gateway. Each target runs in its own blocks (so requests per second are
 * its own), in rounds whose order rotates (so a slow minute of the machine does not land on one
 * target only). Around every block: CPU time of the target's server process, and the database,
 * Redis and provider requests the services child counted.
 */
import { type LoadResult, mergeLoads, runLoad, type Target } from "./load";
import { cpuMsOf } from "./proc";
import type { ServicesCounts } from "./services-child";
import type { BenchStack } from "./stack";
import { round, roundSummary, type Summary, summarize } from "./stats";

export interface MeasuredTarget extends Target {
  /** The server process whose CPU time is charged to this target's requests. */
  pid?: number;
}

export interface TargetFigures {
  requests: number;
  failed: number;
  statuses: Record<string, number>;
  latencyMs: Summary;
  requestsPerSecond: number;
  cpuMsPerRequest?: number;
  /** CPU of the services process per request: the fake provider, and for Candor also the local Supabase and Upstash endpoints. */
  servicesCpuMsPerRequest: number;
  dbRoundTripsPerRequest: number;
  redisRoundTripsPerRequest: number;
  providerRequestsPerRequest: number;
  dbByRoute: Record<string, number>;
  redisByCommand: Record<string, number>;
  firstFailure?: string;
}

export interface CompareOptions {
  concurrency: number;
  /** Measured requests per target per round. */
  requests: number;
  rounds: number;
  /** Time cap of one measured block (see runLoad's maxMs). */
  maxBlockMs: number;
  /** Unmeasured requests per target first (connections open, code paths compiled, caches filled). */
  warmup: number;
}

const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

export async function compareTargets(
  stack: BenchStack,
  targets: readonly MeasuredTarget[],
  o: CompareOptions,
): Promise<Record<string, TargetFigures>> {
  const offsets = new Map<string, number>();
  for (const t of targets) {
    const r = await runLoad(t, { concurrency: o.concurrency, requests: o.warmup, offset: 0 });
    // a stray failure is a figure (the measured blocks count theirs), a failing route is a broken benchmark
    if (r.failed > o.warmup / 20)
      throw new Error(`warm-up of ${t.name}: ${r.failed} of ${o.warmup} failed: ${r.firstFailure}`);
    offsets.set(t.name, o.warmup);
  }
  const loads = new Map<string, LoadResult[]>();
  const cpu = new Map<string, number>();
  const servicesCpu = new Map<string, number>();
  const counted = new Map<string, ServicesCounts>();
  for (let r = 0; r < o.rounds; r++) {
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(k + r) % targets.length] as MeasuredTarget;
      await stack.resetCounts();
      const cpuBefore = t.pid ? cpuMsOf(t.pid) : 0;
      const servicesBefore = cpuMsOf(stack.services.pid);
      const offset = offsets.get(t.name) ?? 0;
      const load = await runLoad(t, {
        concurrency: o.concurrency,
        requests: o.requests,
        offset,
        maxMs: o.maxBlockMs,
      });
      const cpuAfter = t.pid ? cpuMsOf(t.pid) : 0;
      const servicesAfter = cpuMsOf(stack.services.pid);
      const c = await stack.counts();
      offsets.set(t.name, offset + load.sent);
      loads.set(t.name, [...(loads.get(t.name) ?? []), load]);
      cpu.set(t.name, (cpu.get(t.name) ?? 0) + (cpuAfter - cpuBefore));
      servicesCpu.set(t.name, (servicesCpu.get(t.name) ?? 0) + (servicesAfter - servicesBefore));
      const sum = counted.get(t.name) ?? {
        db: 0,
        dbByRoute: {},
        redis: 0,
        redisByCommand: {},
        providerRequests: 0,
      };
      sum.db += c.db;
      sum.redis += c.redis;
      sum.providerRequests += c.providerRequests;
      addCounts(sum.dbByRoute, c.dbByRoute);
      addCounts(sum.redisByCommand, c.redisByCommand);
      counted.set(t.name, sum);
    }
  }
  const out: Record<string, TargetFigures> = {};
  for (const t of targets) {
    const m = mergeLoads(loads.get(t.name) ?? []);
    const c = counted.get(t.name) as ServicesCounts;
    const n = m.ok + m.failed;
    out[t.name] = {
      requests: n,
      failed: m.failed,
      statuses: m.statuses,
      latencyMs: roundSummary(summarize(m.latencies), 3),
      requestsPerSecond: round((n / m.elapsedMs) * 1000, 1),
      ...(t.pid ? { cpuMsPerRequest: round((cpu.get(t.name) ?? 0) / n, 3) } : {}),
      servicesCpuMsPerRequest: round((servicesCpu.get(t.name) ?? 0) / n, 3),
      dbRoundTripsPerRequest: round(c.db / n, 3),
      redisRoundTripsPerRequest: round(c.redis / n, 3),
      providerRequestsPerRequest: round(c.providerRequests / n, 3),
      dbByRoute: c.dbByRoute,
      redisByCommand: c.redisByCommand,
      ...(m.firstFailure ? { firstFailure: m.firstFailure } : {}),
    };
  }
  return out;
}

/** What a gateway adds over the direct call, percentile by percentile (its pXX − direct pXX). */
export function overhead(
  through: TargetFigures,
  direct: TargetFigures,
): { p50: number; p95: number; p99: number; mean: number } {
  const d = (k: "p50" | "p95" | "p99" | "mean") => round(through.latencyMs[k] - direct.latencyMs[k], 3);
  return { p50: d("p50"), p95: d("p95"), p99: d("p99"), mean: d("mean") };
}

/** "begin_turn 1, complete_turn 1": what the round trips were, per request, the frequent ones only. */
export function breakdown(counts: Record<string, number>, requests: number): string {
  return Object.entries(counts)
    .map(([k, v]) => [k.replace(/^POST \/rest\/v1\/rpc\//, ""), v / requests] as const)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${round(v, 2)}`)
    .join(", ");
}
