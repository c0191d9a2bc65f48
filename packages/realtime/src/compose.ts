import { randomBytes } from "node:crypto";
import type { Log } from "@candor/core";
import postgres from "postgres";
import { type ListenSource, PGliteChangeFeed } from "./adapters/pglite-change-feed";
import { type ListenConnectionHooks, PostgresChangeFeed } from "./adapters/postgres-change-feed";
import { PostgresSqlClient } from "./adapters/postgres-sql-client";
import type { RealtimeConfig } from "./config";
import { realtimeMetrics } from "./metrics";
import type { SandboxProvider } from "./ports/sandbox.port";
import type { SqlClient } from "./ports/sql.port";
import type { RealtimeCore } from "./realtime-core";
import { type RealtimeService, startRealtimeService } from "./service";

/** `application_name` of the LISTEN session: operators (and tests) find it in pg_stat_activity. */
export const listenApplicationName = (instanceId: string): string => `candor-realtime-listen-${instanceId}`;

export interface PostgresRealtimeOptions {
  core: RealtimeCore;
  config: RealtimeConfig;
  databaseUrl: string;
  sandboxes: SandboxProvider | undefined;
  /** Names this process's connections; random by default. */
  instanceId?: string;
  host?: string;
  port?: number;
}

export interface PostgresRealtime extends RealtimeService {
  instanceId: string;
  listenApplicationName: string;
}

/**
 * Deployed (and `npm start` with DATABASE_URL): a query pool and one LISTEN session, both direct
 * connections to Postgres through `postgres`. Stopping the service closes them.
 */
export async function startPostgresRealtime(o: PostgresRealtimeOptions): Promise<PostgresRealtime> {
  const instanceId = o.instanceId ?? randomBytes(4).toString("hex");
  const appName = listenApplicationName(instanceId);
  const pool = postgres(o.databaseUrl, {
    max: o.config.dbPoolMax,
    connect_timeout: 10,
    onnotice: () => {},
    connection: { application_name: `candor-realtime-${instanceId}` },
  });
  const sql = new PostgresSqlClient(pool, o.config.dbPoolMax);
  const metrics = realtimeMetrics(o.core.metrics);
  const changeFeed = new PostgresChangeFeed({
    connect: (hooks: ListenConnectionHooks) =>
      postgres(o.databaseUrl, {
        max: 1,
        // the session lives as long as it can: a recycled connection would drop the LISTEN
        idle_timeout: 0,
        max_lifetime: null,
        connect_timeout: 10,
        fetch_types: false,
        onnotice: () => {},
        onclose: hooks.onclose,
        connection: { application_name: appName },
        // postgres.js delivers NOTIFYs of its own connections through this option (what its
        // `listen()` uses inside); it is not in the published Options type
        ...({ onnotify: hooks.onnotify } as object),
      }),
    log: o.core.log,
    reconnectMaxMs: o.config.listen.reconnectMaxMs,
    probeMs: o.config.listen.probeMs,
    onStateChange: (state) => {
      if (state === "down") metrics.count("listen_connection_lost", 1);
      metrics.gauge("listen_connection_status", state === "up" ? 1 : 0);
    },
  });
  let service: RealtimeService;
  try {
    service = await startRealtimeService({
      core: o.core,
      config: o.config,
      sql,
      changeFeed,
      sandboxes: o.sandboxes,
      poolInUse: () => sql.inUse,
      ...(o.host ? { host: o.host } : {}),
      ...(o.port !== undefined ? { port: o.port } : {}),
    });
  } catch (error) {
    await changeFeed.stop();
    await sql.close().catch(() => {});
    throw error;
  }
  return {
    ...service,
    instanceId,
    listenApplicationName: appName,
    async stop() {
      await service.stop();
      await sql.close().catch(() => {});
    },
  };
}

export interface EmbeddedRealtimeOptions {
  core: RealtimeCore;
  config: RealtimeConfig;
  /** The in-process database: queries, transactions and PGlite's listen. */
  database: SqlClient & ListenSource;
  sandboxes: SandboxProvider | undefined;
  host?: string;
  port?: number;
}

/** `npm start` on PGlite: the service in the database's process, listening through PGlite. */
export function startEmbeddedRealtime(o: EmbeddedRealtimeOptions): Promise<RealtimeService> {
  return startRealtimeService({
    core: o.core,
    config: o.config,
    sql: o.database,
    changeFeed: new PGliteChangeFeed(o.database),
    sandboxes: o.sandboxes,
    ...(o.host ? { host: o.host } : {}),
    ...(o.port !== undefined ? { port: o.port } : {}),
  });
}

/** The E2B provider when configured and installed; undefined (logged) otherwise. */
export async function loadSandboxProvider(
  apiKey: string | undefined,
  log: Log,
): Promise<SandboxProvider | undefined> {
  if (!apiKey) return undefined;
  try {
    const { loadE2BSandboxProvider } = await import("./adapters/e2b-sandbox-provider");
    return await loadE2BSandboxProvider(apiKey);
  } catch (error) {
    log.error("E2B_API_KEY is set but the E2B SDK could not be loaded: code execution unavailable", {
      error: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  }
}
