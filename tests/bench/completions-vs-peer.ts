/**
 * completions-vs-peer: Candor's OpenAI-compatible `POST /v1/chat/completions` and Portkey's, on the
 * same fake provider, at concurrency 16: the same request body, the same client. Candor does its
 * whole hot path (auth, limits, live price, begin_turn, provider, complete_turn, ledger); Portkey
 * proxies.
 */
import { PORTKEY_VERSION } from "./support/children";
import { compareTargets, overhead, type TargetFigures } from "./support/compare";
import { type BenchContext, fmt, v } from "./support/context";
import { keepAliveAgent } from "./support/load";
import type { BenchResult } from "./support/machine";
import { round } from "./support/stats";
import { candorCompletionsTarget, directTarget, portkeyTarget } from "./support/targets";

export async function completionsVsPeer(ctx: BenchContext): Promise<BenchResult> {
  const stack = await ctx.stack();
  const portkey = await ctx.portkey();
  const api = await stack.startApi("completions");
  const tenant = await stack.createTenant();
  const plan = { concurrency: 16, requests: ctx.n(1500), rounds: 2, warmup: ctx.n(300), maxBlockMs: 10_000 };
  ctx.log(
    `completions-vs-peer: concurrency ${plan.concurrency}, ${plan.rounds}×${plan.requests} requests per target`,
  );
  const agents = [keepAliveAgent(16), keepAliveAgent(16), keepAliveAgent(16)] as const;
  const { openaiBaseUrl } = stack.services.ready;
  const r = await compareTargets(
    stack,
    [
      directTarget(openaiBaseUrl, agents[0]),
      { ...candorCompletionsTarget(api.url, tenant.key, agents[1]), pid: api.pid },
      { ...portkeyTarget(portkey.url, openaiBaseUrl, agents[2]), pid: portkey.pid },
    ],
    plan,
  );
  for (const a of agents) a.destroy();
  await api.stop();
  const direct = r.direct as TargetFigures;
  const candor = r.candor as TargetFigures;
  const peer = r.portkey as TargetFigures;
  const candorAdded = overhead(candor, direct);
  const peerAdded = overhead(peer, direct);
  ctx.log(
    `  Candor ${v(candor.requestsPerSecond)} rps, p50 ${fmt(candor.latencyMs.p50)} p99 ${fmt(candor.latencyMs.p99)}; ` +
      `Portkey ${v(peer.requestsPerSecond)} rps, p50 ${fmt(peer.latencyMs.p50)} p99 ${fmt(peer.latencyMs.p99)}`,
  );
  return {
    name: "completions-vs-peer",
    settings: {
      route: "POST /v1/chat/completions (both)",
      peer: `@portkey-ai/gateway ${PORTKEY_VERSION} --headless, x-portkey-provider: openai, x-portkey-custom-host: fake provider`,
      plan,
      body: '{"model":"candor-fake-1","messages":[{"role":"user","content":"Benchmark message <i>: …"}]}',
      cpu: "user+system CPU of the server process from /proc/<pid>/stat over the measured blocks",
    },
    figures: {
      direct,
      candor,
      portkey: peer,
      addedMs: { candor: candorAdded, portkey: peerAdded },
      ratioCandorToPortkey: {
        addedP50: round(candorAdded.p50 / peerAdded.p50, 2),
        addedP99: round(candorAdded.p99 / peerAdded.p99, 2),
        requestsPerSecond: round(candor.requestsPerSecond / peer.requestsPerSecond, 2),
        cpuMsPerRequest: round((candor.cpuMsPerRequest ?? 0) / (peer.cpuMsPerRequest ?? 1), 2),
      },
    },
    notes: [
      "Candor writes every completion to the ledger (two database round trips); Portkey keeps nothing.",
      "Everything shares 2 cores: load generator, Candor, Portkey, the services process, Postgres and Redis.",
    ],
    rows: [
      {
        benchmark: "completions-vs-peer",
        metric: "latency p50 / p99, c=16",
        candor: `${v(candor.latencyMs.p50)} / ${v(candor.latencyMs.p99)} ms`,
        peer: `Portkey ${v(peer.latencyMs.p50)} / ${v(peer.latencyMs.p99)} ms (direct ${v(direct.latencyMs.p50)} / ${v(direct.latencyMs.p99)})`,
      },
      {
        benchmark: "completions-vs-peer",
        metric: "added latency p50 / p99, c=16",
        candor: `${v(candorAdded.p50)} / ${v(candorAdded.p99)} ms`,
        peer: `Portkey ${v(peerAdded.p50)} / ${v(peerAdded.p99)} ms`,
        anchor: "LiteLLM + Postgres + Redis: p50 30.6 / p99 91.6 ms",
      },
      {
        benchmark: "completions-vs-peer",
        metric: "requests/s, CPU ms per request, c=16",
        candor: `${v(candor.requestsPerSecond)} rps, ${v(candor.cpuMsPerRequest)} ms CPU (services ${v(candor.servicesCpuMsPerRequest)})`,
        peer: `Portkey ${v(peer.requestsPerSecond)} rps, ${v(peer.cpuMsPerRequest)} ms CPU (services ${v(peer.servicesCpuMsPerRequest)})`,
      },
    ],
  };
}
