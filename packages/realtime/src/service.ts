import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Health } from "@candor/core";
import { SqlGraphEventStore } from "./adapters/sql-event-store";
import { SqlSandboxStore } from "./adapters/sql-sandbox-store";
import type { RealtimeConfig } from "./config";
import { createRealtimeServer } from "./http/server";
import { realtimeMetrics } from "./metrics";
import type { ChangeFeed } from "./ports/change-feed.port";
import type { SandboxProvider } from "./ports/sandbox.port";
import type { SqlClient } from "./ports/sql.port";
import type { RealtimeCore } from "./realtime-core";
import { SandboxPool } from "./sandbox/sandbox-pool";
import { SubscriptionHub } from "./sse/subscription-hub";

export interface RealtimeServiceDeps {
  core: RealtimeCore;
  config: RealtimeConfig;
  /** Queries: event reads, replays, sandbox metadata. */
  sql: SqlClient;
  changeFeed: ChangeFeed;
  /** Undefined without E2B_API_KEY (or without the SDK): executions answer 503. */
  sandboxes: SandboxProvider | undefined;
  /** Connections of the query pool in use, for the db_pool_in_use gauge. */
  poolInUse?: () => number;
  host?: string;
  /** Overrides config.port (0: any free port). */
  port?: number;
}

export interface RealtimeService {
  url: string;
  port: number;
  hub: SubscriptionHub;
  pool: SandboxPool | undefined;
  changeFeed: ChangeFeed;
  health(): Promise<Health>;
  /** SIGTERM: stop accepting, tell clients to retry, close everything within config.shutdownTimeoutMs. */
  stop(): Promise<void>;
}

/**
 * Starts the service on built dependencies: listening on graph_events first (so no event committed
 * after the first subscriber is accepted can be missed), then the HTTP server.
 */
export async function startRealtimeService(deps: RealtimeServiceDeps): Promise<RealtimeService> {
  const { core, config } = deps;
  const metrics = realtimeMetrics(core.metrics);
  const events = new SqlGraphEventStore(deps.sql);
  const hub = new SubscriptionHub({
    store: events,
    log: core.log,
    metrics,
    heartbeatMs: config.sse.heartbeatMs,
    retryMs: config.sse.retryMs,
    maxSubscribers: config.sse.maxSubscribers,
    maxSubscribersPerTenant: config.sse.maxSubscribersPerTenant,
    maxBufferedBytes: config.sse.maxBufferedBytes,
    replayPageSize: config.sse.replayPageSize,
    maxPendingEvents: config.sse.maxPendingEvents,
  });
  await deps.changeFeed.start({
    onNotification: (n) => hub.onNotification(n),
    onResync: () => hub.resyncAll(),
  });

  const sandboxStore = new SqlSandboxStore(deps.sql);
  const pool = deps.sandboxes
    ? new SandboxPool({
        provider: deps.sandboxes,
        store: sandboxStore,
        log: core.log,
        metrics,
        maxSize: config.e2b.poolMax,
        idleMs: config.e2b.idleMs,
        lifetimeMs: config.e2b.lifetimeMs,
      })
    : undefined;
  metrics.gauge("e2b_available", pool ? 1 : 0);

  const health = async (): Promise<Health> => {
    const h = await core.health();
    const feedUp = deps.changeFeed.state === "up";
    // without the LISTEN session streams stall until it is back: degraded, not down
    const status = h.status === "down" ? "down" : feedUp ? h.status : "degraded";
    return { ...h, status, dependencies: { ...h.dependencies, e2b: pool ? "available" : "unavailable" } };
  };

  let draining = false;
  const server: Server = createRealtimeServer({
    core,
    hub,
    execution: pool ? { pool, events, store: sandboxStore, metrics } : undefined,
    executionTimeouts: {
      defaultMs: config.execution.defaultTimeoutMs,
      maxMs: config.execution.maxTimeoutMs,
    },
    health,
    draining: () => draining,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(deps.port ?? config.port, deps.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = deps.host && deps.host !== "0.0.0.0" ? deps.host : "127.0.0.1";

  // gauges now and then; counters as the difference since the last emission
  let last = { ...hub.stats };
  const emit = () => {
    metrics.gauge("sse_subscribers", hub.size);
    metrics.gauge("listen_connection_status", deps.changeFeed.state === "up" ? 1 : 0);
    if (deps.poolInUse) metrics.gauge("db_pool_in_use", deps.poolInUse());
    if (pool) metrics.gauge("e2b_sandboxes", pool.size);
    const now = { ...hub.stats };
    metrics.count("sse_events_delivered", now.delivered - last.delivered);
    metrics.count("sse_replay_events", now.replayed - last.replayed);
    last = now;
    metrics.flush();
  };
  const metricsTimer = setInterval(emit, config.metricsIntervalMs);
  metricsTimer.unref();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      hub.closeAll();
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, config.shutdownTimeoutMs);
      });
      await Promise.race([Promise.allSettled([pool?.shutdown(), deps.changeFeed.stop(), closed]), deadline]);
      clearTimeout(timer);
      server.closeAllConnections();
      clearInterval(metricsTimer);
      emit();
      core.log.info("realtime service stopped", { subscribers_left: hub.size });
    })();
    return stopping;
  };

  return { url: `http://${host}:${port}`, port, hub, pool, changeFeed: deps.changeFeed, health, stop };
}
