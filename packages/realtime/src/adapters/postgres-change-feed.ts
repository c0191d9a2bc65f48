import type { Log } from "@candor/core";
import type postgres from "postgres";
import { fullJitterDelay, sleep } from "../backoff";
import {
  type ChangeFeed,
  type ChangeFeedHandlers,
  type ChangeFeedState,
  GRAPH_EVENTS_CHANNEL,
  parseGraphNotification,
} from "../ports/change-feed.port";

export interface ListenConnectionHooks {
  onnotify(channel: string, payload: string): void;
  onclose(): void;
}

/**
 * Builds one `postgres` client for the LISTEN session (max 1 connection, no idle timeout), wiring
 * these hooks into its `onnotify` and `onclose` options. The composition root owns the URL and
 * the connection options; the adapter owns the session's life (a fresh client after each loss).
 */
export type ListenConnectionFactory = (hooks: ListenConnectionHooks) => postgres.Sql;

export interface PostgresChangeFeedOptions {
  connect: ListenConnectionFactory;
  log: Log;
  /** Cap of the reconnection backoff (full jitter from 100 ms). */
  reconnectMaxMs: number;
  /** Probe interval: a half-open socket delivers nothing and raises nothing until a query fails. */
  probeMs: number;
  onStateChange?: (state: ChangeFeedState) => void;
}

const RECONNECT_BASE_MS = 100;

/**
 * LISTEN graph_events on a direct Postgres connection. postgres.js re-listens by itself after a
 * drop, but silently gives up if that one attempt fails; here a lost session is replaced with
 * backoff until it listens again, and then `onResync` tells the hub to catch every subscriber up
 * from graph_events (the NOTIFYs sent while nobody listened are gone for good).
 */
export class PostgresChangeFeed implements ChangeFeed {
  private current: ChangeFeedState = "connecting";
  private sql: postgres.Sql | undefined;
  private generation = 0;
  private handlers: ChangeFeedHandlers | undefined;
  private readonly abort = new AbortController();
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  /** Reconnections since start (a metric and a test hook). */
  reconnects = 0;

  constructor(private readonly options: PostgresChangeFeedOptions) {}

  get state(): ChangeFeedState {
    return this.current;
  }

  async start(handlers: ChangeFeedHandlers): Promise<void> {
    this.handlers = handlers;
    await this.connectOnce();
    this.probeTimer = setInterval(() => void this.probe(), this.options.probeMs);
    this.probeTimer.unref();
  }

  async stop(): Promise<void> {
    this.setState("stopped");
    this.abort.abort();
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.generation++;
    const sql = this.sql;
    this.sql = undefined;
    await sql?.end({ timeout: 1 }).catch(() => {});
  }

  // a method, not a narrowed field read: the state changes across awaits
  private stopped(): boolean {
    return this.current === "stopped";
  }

  private setState(state: ChangeFeedState) {
    if (this.current === state || this.current === "stopped") return;
    this.current = state;
    this.options.onStateChange?.(state);
  }

  private async connectOnce(): Promise<void> {
    const generation = ++this.generation;
    const sql = this.options.connect({
      onnotify: (channel, payload) => {
        if (generation !== this.generation || channel !== GRAPH_EVENTS_CHANNEL) return;
        const notification = parseGraphNotification(payload);
        if (notification) this.handlers?.onNotification(notification);
        else this.options.log.warn("malformed graph_events notification ignored");
      },
      onclose: () => {
        if (generation === this.generation) this.lost("connection closed");
      },
    });
    this.sql = sql;
    try {
      await sql.unsafe(`listen "${GRAPH_EVENTS_CHANNEL}"`);
    } catch (error) {
      if (generation === this.generation) this.sql = undefined;
      void sql.end({ timeout: 0 }).catch(() => {});
      throw error;
    }
    if (generation !== this.generation) return; // stopped or lost while connecting
    this.setState("up");
  }

  private lost(reason: string) {
    if (this.current !== "up") return;
    this.setState("down");
    this.options.log.warn("LISTEN connection lost; reconnecting", { reason });
    this.generation++;
    const old = this.sql;
    this.sql = undefined;
    void old?.end({ timeout: 0 }).catch(() => {});
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.stopped(); attempt++) {
      await sleep(
        fullJitterDelay(attempt, RECONNECT_BASE_MS, this.options.reconnectMaxMs),
        this.abort.signal,
      );
      if (this.stopped()) return;
      try {
        await this.connectOnce();
        if (this.current !== "up") return;
        this.reconnects++;
        this.options.log.info("LISTEN connection restored; resyncing subscribers", { attempts: attempt + 1 });
        this.handlers?.onResync();
        return;
      } catch (error) {
        this.options.log.warn("LISTEN reconnection failed", {
          attempt: attempt + 1,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }

  private async probe(): Promise<void> {
    const sql = this.sql;
    if (this.current !== "up" || !sql || this.probing) return;
    this.probing = true;
    const generation = this.generation;
    const timeoutMs = Math.min(5_000, this.options.probeMs);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        sql.unsafe("select 1"),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`probe timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (error) {
      if (generation === this.generation) this.lost(error instanceof Error ? error.message : "probe failed");
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
  }
}
