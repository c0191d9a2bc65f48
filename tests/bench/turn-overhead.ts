/**
 * turn-overhead: what a chat turn through Candor adds on top of the model call, side by side with
 * the peer gateway (Portkey) in the same run. Candor's API runs in its own process against the real
 * Postgres (local Supabase endpoint) and the real Redis (local Upstash endpoint); the fake provider
 * answers at once. Latency added = Candor's (or Portkey's) pXX − the direct call's pXX, all three
 * measured by the same client at the same concurrency.
 */

import { PORTKEY_VERSION } from "./support/children";
import { breakdown, compareTargets, overhead, type TargetFigures } from "./support/compare";
import { type BenchContext, fmt, v } from "./support/context";
import { keepAliveAgent } from "./support/load";
import type { BenchResult, TableRow } from "./support/machine";
import { round } from "./support/stats";
import {
  candorTurnTarget,
  createConversations,
  directTarget,
  portkeyTarget,
  TURNS_PER_CONVERSATION,
} from "./support/targets";

export async function turnOverhead(ctx: BenchContext): Promise<BenchResult> {
  const stack = await ctx.stack();
  const portkey = await ctx.portkey();
  const api = await stack.startApi("turns");
  const tenant = await stack.createTenant();
  const plan = [
    { concurrency: 1, requests: ctx.n(600), rounds: 2, warmup: ctx.n(150), maxBlockMs: 8_000 },
    { concurrency: 16, requests: ctx.n(1500), rounds: 2, warmup: ctx.n(300), maxBlockMs: 10_000 },
  ];
  const settings = {
    route: "POST /v1/conversations/{id}/messages",
    model: "candor-fake-1 (fake provider, latencyMs 0)",
    peer: `@portkey-ai/gateway ${PORTKEY_VERSION} (node build/start-server.js --headless), POST /v1/chat/completions, x-portkey-provider: openai, x-portkey-custom-host: fake provider`,
    plan,
    turnsPerConversation: TURNS_PER_CONVERSATION,
    candorEnv:
      "deployed defaults (REDIS_TIMEOUT_MS 150, breaker 5 of 10 / 5000 ms, LOG_LEVEL INFO), Upstash adapters on",
    client: "node:http keep-alive agent, one per target, N workers; latency = request() to last byte",
    cpu: "user+system CPU of the server process from /proc/<pid>/stat (what process.cpuUsage() reports inside it), over the measured blocks",
    roundTrips:
      "database = requests through the counting proxy in front of the Supabase endpoint; Redis = requests answered by the Upstash endpoint (its onRequest)",
  };

  const figures: Record<string, unknown> = {};
  const rows: TableRow[] = [];
  for (const p of plan) {
    const total = p.warmup + p.rounds * p.requests;
    const conversations = await createConversations(
      stack.db,
      tenant.tenantId,
      Math.max(p.concurrency * 2, Math.ceil(total / TURNS_PER_CONVERSATION)),
    );
    ctx.log(`turn-overhead: concurrency ${p.concurrency}, ${p.rounds}×${p.requests} requests per target`);
    const agents = [
      keepAliveAgent(p.concurrency),
      keepAliveAgent(p.concurrency),
      keepAliveAgent(p.concurrency),
    ];
    const [a0, a1, a2] = agents as [(typeof agents)[0], (typeof agents)[0], (typeof agents)[0]];
    const before = (await api.state()).totals;
    const r = await compareTargets(
      stack,
      [
        directTarget(stack.services.ready.openaiBaseUrl, a0),
        { ...candorTurnTarget(api.url, tenant.key, conversations, a1), pid: api.pid },
        { ...portkeyTarget(portkey.url, stack.services.ready.openaiBaseUrl, a2), pid: portkey.pid },
      ],
      p,
    );
    const after = (await api.state()).totals;
    for (const a of agents) a.destroy();
    // non-zero when Redis calls timed out (on a starved machine too): the round trips then shift to the database
    const degraded = Object.fromEntries(
      ["rate_limit_bypass_count", "cache_bypass_count"].map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]),
    );
    const direct = r.direct as TargetFigures;
    const candor = r.candor as TargetFigures;
    const peer = r.portkey as TargetFigures;
    const candorAdded = overhead(candor, direct);
    const peerAdded = overhead(peer, direct);
    figures[`concurrency${p.concurrency}`] = {
      direct,
      candor,
      portkey: peer,
      candorDegradedDuringRun: degraded,
      addedMs: { candor: candorAdded, portkey: peerAdded },
      ratioCandorToPortkey: {
        p50: round(candorAdded.p50 / peerAdded.p50, 2),
        p99: round(candorAdded.p99 / peerAdded.p99, 2),
      },
    };
    const c = `c=${p.concurrency}`;
    rows.push(
      {
        benchmark: "turn-overhead",
        metric: `added latency p50 / p95 / p99, ${c}`,
        candor: `${v(candorAdded.p50)} / ${v(candorAdded.p95)} / ${v(candorAdded.p99)} ms`,
        peer: `Portkey ${v(peerAdded.p50)} / ${v(peerAdded.p95)} / ${v(peerAdded.p99)} ms`,
        anchor:
          p.concurrency === 1
            ? "Portkey 1.15.2 median 2.37 ms, p99 +3.3 ms; LiteLLM median 4.34 ms; Bifrost 0.44 ms"
            : "LiteLLM + Postgres + Redis: p50 30.6 / p95 54.0 / p99 91.6 ms (3,000 RPS, 33 pods)",
      },
      {
        benchmark: "turn-overhead",
        metric: `requests/s, CPU ms per request, ${c}`,
        candor:
          `${v(candor.requestsPerSecond)} rps, ${v(candor.cpuMsPerRequest)} ms CPU (services ${v(candor.servicesCpuMsPerRequest)})` +
          (degraded.rate_limit_bypass_count
            ? `; ${degraded.rate_limit_bypass_count} of ${candor.requests + p.warmup} turns met a Redis timeout (limiter bypassed)`
            : ""),
        peer: `Portkey ${v(peer.requestsPerSecond)} rps, ${v(peer.cpuMsPerRequest)} ms CPU (services ${v(peer.servicesCpuMsPerRequest)}); direct ${v(direct.requestsPerSecond)} rps`,
      },
    );
    if (p.concurrency === 1) {
      rows.push({
        benchmark: "turn-overhead",
        metric: "database / Redis round trips per turn",
        candor:
          `${v(candor.dbRoundTripsPerRequest)} (${breakdown(candor.dbByRoute, candor.requests)}) / ` +
          `${v(candor.redisRoundTripsPerRequest)} (${breakdown(candor.redisByCommand, candor.requests)})`,
        peer: "Portkey: none (pure proxy)",
        anchor: "2 and ≤ 2 (ARCHITECTURE.md)",
      });
    }
    ctx.log(
      `  direct p50 ${fmt(direct.latencyMs.p50)}; Candor adds p50 ${fmt(candorAdded.p50)} p99 ${fmt(candorAdded.p99)}; ` +
        `Portkey adds p50 ${fmt(peerAdded.p50)} p99 ${fmt(peerAdded.p99)}; Candor ${v(candor.requestsPerSecond)} rps, ` +
        `${v(candor.dbRoundTripsPerRequest)} DB + ${v(candor.redisRoundTripsPerRequest)} Redis round trips per turn`,
    );
  }
  await api.stop();
  return {
    name: "turn-overhead",
    settings,
    figures,
    notes: [
      "Added latency is a difference of percentiles (gateway pXX − direct pXX), as in llm-gateway-bench.",
      "Candor's figure includes its two database round trips to the local Supabase endpoint over real Postgres and its Redis round trips to the local Upstash endpoint over real Redis, all on this machine; Portkey does no I/O besides the provider call.",
      "Everything shares 2 cores: load generator, Candor, Portkey, the services process, Postgres and Redis.",
    ],
    rows,
  };
}
