/**
 * sse-fanout: one realtime process (packages/realtime/src/main.ts, the container's entry point,
 * LISTENing on the scratch database) with 1k, 5k then 10k subscribers of one conversation, all held
 * by this process (stream tokens, as browsers connect). At each tier a series of commits
 * (append_message, what a completed turn does: one graph event each), one at a time; commit-to-client
 * latency is from the start of the committing statement to the moment a subscriber has parsed the
 * event. RSS per connection = (RSS at the tier − RSS before any subscriber) / subscribers.
 */
import type { Child } from "./support/children";
import { startRealtime } from "./support/children";
import { type BenchContext, fmt, v } from "./support/context";
import type { BenchResult, TableRow } from "./support/machine";
import { cpuMsOf, rssOf } from "./support/proc";
import { type SseSubscriber, subscribe } from "./support/sse-client";
import { round, roundSummary, sleep, summarize } from "./support/stats";

const KB = 1024;
const OPEN_BATCH = 200;

export async function sseFanout(ctx: BenchContext): Promise<BenchResult> {
  const stack = await ctx.stack();
  const tiers = ctx.quick ? [100, 500, 1_000] : [1_000, 5_000, 10_000];
  const eventsPerTier = ctx.quick ? 5 : 20;
  const api = await stack.startApi("sse");
  const tenant = await stack.createTenant();
  const { ready } = stack.services;
  let realtime: (Child & { url: string }) | undefined;
  const subscribers: SseSubscriber[] = [];
  try {
    realtime = await startRealtime({
      CANDOR_STAGE: "bench",
      DATABASE_URL: stack.databaseUrl,
      SUPABASE_URL: ready.supabaseUrl,
      SUPABASE_SERVICE_ROLE_KEY: ready.serviceRoleKey,
      STREAM_TOKEN_SECRET: stack.streamTokenSecret,
      REDIS_KEY_PREFIX: `${stack.redisPrefix}realtime:`,
      SSE_MAX_SUBSCRIBERS: "20000",
      SSE_MAX_SUBSCRIBERS_PER_TENANT: "20000",
      LOG_LEVEL: "WARN",
    });
    const rt = realtime;
    const headers = { "content-type": "application/json", authorization: `Bearer ${tenant.key}` };
    const created = await fetch(`${api.url}/v1/conversations`, {
      method: "POST",
      headers,
      body: '{"title":"fan-out"}',
    });
    if (created.status !== 201)
      throw new Error(`create conversation: ${created.status} ${await created.text()}`);
    const conversationId = ((await created.json()) as { id: string }).id;
    const issued = await fetch(`${api.url}/v1/stream-tokens`, {
      method: "POST",
      headers,
      body: JSON.stringify({ conversation_id: conversationId }),
    });
    if (issued.status !== 201) throw new Error(`stream token: ${issued.status} ${await issued.text()}`);
    const token = ((await issued.json()) as { token: string }).token;
    const url = `${rt.url}/v1/conversations/${conversationId}/events?token=${encodeURIComponent(token)}`;

    const arrivals = new Map<number, number[]>();
    const onEvent = (id: number, at: number) => {
      let list = arrivals.get(id);
      if (!list) {
        list = [];
        arrivals.set(id, list);
      }
      list.push(at);
    };
    const open = async (count: number, into: SseSubscriber[]) => {
      for (let done = 0; done < count; done += OPEN_BATCH) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(OPEN_BATCH, count - done) }, () => subscribe(url, onEvent)),
        );
        into.push(...batch);
        const refused = batch.find((s) => s.status !== 200);
        if (refused) throw new Error(`a subscription was answered ${refused.status}`);
      }
    };
    let seq = 0;
    const commit = async (
      expected: number,
    ): Promise<{ id: number; committedAt: number; delivered: number }> => {
      const committedAt = performance.now();
      await stack.db.query("select public.append_message($1, $2, 'main', 'user', $3)", [
        tenant.tenantId,
        conversationId,
        `fan-out event ${seq++}`,
      ]);
      const rows = await stack.db.query<{ id: string }>(
        "select max(id)::text as id from public.graph_events where conversation_id = $1",
        [conversationId],
      );
      const id = Number(rows[0]?.id);
      const deadline = Date.now() + 30_000;
      while ((arrivals.get(id)?.length ?? 0) < expected && Date.now() < deadline) await sleep(5);
      return { id, committedAt, delivered: arrivals.get(id)?.length ?? 0 };
    };

    // warm-up: the service's code paths, its pool and the LISTEN session, then the baseline RSS
    const warm: SseSubscriber[] = [];
    await open(20, warm);
    for (let k = 0; k < 3; k++) await commit(20);
    for (const s of warm) s.close();
    await sleep(1_000);
    const rssBase = rssOf(rt.pid);
    ctx.log(
      `sse-fanout: realtime RSS before subscribers ${round(rssBase / KB / KB, 1)} MB; tiers ${tiers.join(", ")}`,
    );

    const figures: Record<string, unknown> = { rssBeforeSubscribersMB: round(rssBase / KB / KB, 1) };
    const rows: TableRow[] = [];
    for (const tier of tiers) {
      const t0 = performance.now();
      const opened = tier - subscribers.length;
      await open(opened, subscribers);
      const openSeconds = (performance.now() - t0) / 1000;
      await sleep(1_000);
      const rss = rssOf(rt.pid);
      const latencies: number[] = [];
      let missing = 0;
      const cpuBefore = cpuMsOf(rt.pid);
      for (let k = 0; k < eventsPerTier; k++) {
        const r = await commit(tier);
        missing += tier - r.delivered;
        for (const at of arrivals.get(r.id) ?? []) latencies.push(at - r.committedAt);
        arrivals.delete(r.id);
        await sleep(50);
      }
      const cpuPerEvent = (cpuMsOf(rt.pid) - cpuBefore) / eventsPerTier;
      const latency = roundSummary(summarize(latencies), 1);
      const rssPerConnectionKB = round((rss - rssBase) / tier / KB, 1);
      figures[`subscribers${tier}`] = {
        subscribers: tier,
        events: eventsPerTier,
        delivered: latencies.length,
        missing,
        commitToClientMs: latency,
        rssMB: round(rss / KB / KB, 1),
        rssPerConnectionKB,
        realtimeCpuMsPerEvent: round(cpuPerEvent, 1),
        openedPerSecond: round(opened / openSeconds, 0),
      };
      ctx.log(
        `  ${tier} subscribers: commit-to-client p50 ${fmt(latency.p50, 1)} p99 ${fmt(latency.p99, 1)}, ` +
          `${rssPerConnectionKB} KB RSS per connection, ${missing} missing`,
      );
      rows.push({
        benchmark: "sse-fanout",
        metric: `${tier.toLocaleString("en-US")} subscribers: commit-to-client p50 / p99; RSS per connection`,
        candor: `${v(latency.p50)} / ${v(latency.p99)} ms; ${rssPerConnectionKB} KB${missing ? `; ${missing} missing` : ""}`,
        anchor:
          tier === tiers[tiers.length - 1]
            ? "Supabase Realtime p50 6 / p99 213 ms (32k users); Centrifugo ~30 KB/conn; bare Node SSE 10–15 KB/conn"
            : "",
      });
    }
    return {
      name: "sse-fanout",
      settings: {
        service:
          "packages/realtime/src/main.ts in its own process (DATABASE_URL = the scratch database, LISTEN/NOTIFY)",
        tiers,
        eventsPerTier,
        conversation: "one conversation, every subscriber on it, stream-token auth (?token=)",
        commit:
          "select public.append_message(...) on a separate superuser connection; one graph event each, one at a time",
        client:
          "this process holds every subscriber (raw node:http, one connection each); latency includes its own parse time",
        realtimeEnv:
          "SSE_MAX_SUBSCRIBERS=20000, SSE_MAX_SUBSCRIBERS_PER_TENANT=20000, other settings at their defaults",
      },
      figures,
      notes: [
        "Latency runs from the start of the committing statement to the subscriber's parse of the event, so it includes the commit itself, NOTIFY, the service's read of the event and the client process's own queue (10k sockets on one event loop, 2 cores shared with the service and Postgres).",
        "RSS includes everything the process holds for a connection (socket buffers, HTTP state, subscriber), not only the JavaScript heap.",
      ],
      rows,
    };
  } finally {
    for (const s of subscribers) s.close();
    await realtime?.stop();
    await api.stop();
  }
}
