import type { Log } from "@candor/core";
import { fullJitterDelay } from "../backoff";
import { RealtimeError } from "../errors";
import type { RealtimeMetrics } from "../metrics";
import type { GraphNotification } from "../ports/change-feed.port";
import type { GraphEvent, GraphEventStore } from "../ports/event-store.port";
import { formatEventFrame, HEARTBEAT_FRAME, retryFrame } from "./sse-frame";

/** One client stream, as the hub drives it. The HTTP layer implements it over a ServerResponse. */
export interface SseSink {
  /** Sends the 200, the headers and the `retry:` field: the stream is open. */
  open(retryMs: number): void;
  /** Queues a chunk; returns the bytes now waiting to go out on this connection. */
  write(chunk: string): number;
  /** Bytes waiting to go out on this connection (written, not yet taken by the client). */
  queuedBytes(): number;
  /** Resolves true once the queue has drained, false if the connection closed first. */
  drained(): Promise<boolean>;
  /** Ends the stream after an optional last chunk (the client reconnects). */
  end(chunk?: string): void;
  /** Cuts the connection at once (a slow client: it resumes with Last-Event-ID). */
  destroy(): void;
}

export interface SubscriptionHubOptions {
  store: GraphEventStore;
  log: Log;
  metrics: RealtimeMetrics;
  heartbeatMs: number;
  retryMs: number;
  maxSubscribers: number;
  maxSubscribersPerTenant: number;
  maxBufferedBytes: number;
  replayPageSize: number;
  maxPendingEvents: number;
  /** Catch-ups run at most this many conversations at a time after a resync. */
  resyncConcurrency?: number;
}

type Mode = "opening" | "replaying" | "live" | "closed";

/**
 * Per-connection state, freed when the connection closes. `pending` holds the live events that
 * arrive while the subscriber replays (at most maxPendingEvents; past that it is dropped and the
 * replay reads the table again).
 */
export class Subscriber {
  mode: Mode = "opening";
  lastId = 0;
  pending: GraphEvent[] | null = [];
  overflowed = false;

  constructor(
    readonly tenantId: string,
    readonly conversationId: string,
    readonly group: Group,
    readonly sink: SseSink,
  ) {}
}

/** The subscribers of one conversation on this process, and its catch-up state after a resync. */
interface Group {
  readonly key: string;
  readonly tenantId: string;
  readonly conversationId: string;
  readonly subscribers: Set<Subscriber>;
  catchingUp: boolean;
  /** Waiting in the resync queue. */
  queued: boolean;
  again: boolean;
  /** Live events held while the group catches up (bounded like a subscriber's). */
  pending: GraphEvent[] | null;
  /** Highest event id notified live: a lower one after it means ids committed out of order. */
  maxLive: number;
  overflowed: boolean;
}

export type OpenResult = "open" | "not_found" | "closed";

/** Notified ids waiting for their read (numbers: at most 80 KB). Past it, a resync reads the table instead. */
const MAX_PENDING_IDS = 10_000;

// a function, not a narrowed field read: the mode changes across awaits
const isClosed = (sub: Subscriber): boolean => sub.mode === "closed";

const groupKey = (tenantId: string, conversationId: string) => `${conversationId}/${tenantId}`;

/**
 * Fan-out of graph events to this process's SSE subscribers (per-instance state by nature: every
 * instance LISTENs and serves its own connections; ARCHITECTURE.md, fault-tolerance §3.2).
 *
 * Bounds: at most maxSubscribers connections (maxSubscribersPerTenant per tenant); one group per
 * conversation with a subscriber; the ids of one notification burst (MAX_PENDING_IDS; past it
 * everything is caught up from the table); per subscriber, a replay buffer of at most
 * maxPendingEvents and a socket queue of at most maxBufferedBytes. All of it goes with the
 * connection.
 *
 * No gap, no duplicate: a subscriber is registered (and buffers live events) before it reads the
 * table; it writes an event only if its id is above the last id it wrote. Within one conversation
 * ids commit in order, because every writer of a conversation holds its row lock
 * (lock_conversation) when it appends the event.
 */
export class SubscriptionHub {
  private readonly groups = new Map<string, Group>();
  /** Open connections per tenant: one entry per tenant with a subscriber here. */
  private readonly perTenant = new Map<string, number>();
  private total = 0;
  private pendingIds: number[] = [];
  private fetching = false;
  private closing = false;
  private resyncQueue: Group[] = [];
  private resyncRunning = 0;
  private resyncAttempt = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  /** Totals since start, for tests and the periodic metrics. */
  readonly stats = {
    delivered: 0,
    replayed: 0,
    slowDisconnects: 0,
    rejected: 0,
    resyncs: 0,
    fetches: 0,
    outOfOrder: 0,
  };

  constructor(private readonly o: SubscriptionHubOptions) {
    // one timer for every stream, not one per connection
    this.heartbeat = setInterval(() => this.beat(), o.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.total;
  }

  get conversations(): number {
    return this.groups.size;
  }

  tenantCount(tenantId: string): number {
    return this.perTenant.get(tenantId) ?? 0;
  }

  /**
   * Registers a subscriber at once (so no live event can pass it by), then checks the conversation
   * and either replays from `lastEventId` or starts at the conversation's last event.
   * Throws RealtimeError("capacity_exceeded") over a cap or while shutting down.
   */
  open(request: {
    tenantId: string;
    conversationId: string;
    lastEventId: number | undefined;
    sink: SseSink;
  }): { subscriber: Subscriber; ready: Promise<OpenResult> } {
    const { tenantId, conversationId } = request;
    const tenantCount = this.perTenant.get(tenantId) ?? 0;
    if (
      this.closing ||
      this.total >= this.o.maxSubscribers ||
      tenantCount >= this.o.maxSubscribersPerTenant
    ) {
      this.stats.rejected++;
      this.o.metrics.count("sse_capacity_rejections", 1);
      const why = this.closing
        ? "This instance is shutting down"
        : this.total >= this.o.maxSubscribers
          ? "This instance has reached its subscriber limit"
          : "This tenant has reached its subscriber limit on this instance";
      throw new RealtimeError("capacity_exceeded", `${why}; retry shortly`, {
        retryAfterSeconds: Math.max(1, Math.ceil(this.o.retryMs / 1000)),
      });
    }
    const key = groupKey(tenantId, conversationId);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        key,
        tenantId,
        conversationId,
        subscribers: new Set(),
        catchingUp: false,
        queued: false,
        again: false,
        pending: null,
        overflowed: false,
        maxLive: 0,
      };
      this.groups.set(key, group);
    }
    const subscriber = new Subscriber(tenantId, conversationId, group, request.sink);
    group.subscribers.add(subscriber);
    this.total++;
    this.perTenant.set(tenantId, tenantCount + 1);
    return { subscriber, ready: this.start(subscriber, request.lastEventId) };
  }

  private async start(sub: Subscriber, lastEventId: number | undefined): Promise<OpenResult> {
    let opened: { lastEventId: number } | undefined;
    try {
      opened = await this.o.store.openConversation(sub.tenantId, sub.conversationId);
    } catch (error) {
      this.remove(sub);
      throw error;
    }
    if (sub.mode === "closed") return "closed";
    if (!opened) {
      this.remove(sub);
      return "not_found";
    }
    sub.sink.open(this.o.retryMs);
    if (lastEventId === undefined && !sub.overflowed) {
      // a new subscriber starts after the conversation's last event; whatever arrived meanwhile
      // and is newer goes out first
      sub.lastId = opened.lastEventId;
      this.goLive(sub);
    } else {
      sub.lastId = lastEventId ?? opened.lastEventId;
      sub.mode = "replaying";
      void this.replay(sub);
    }
    return "open";
  }

  /** Frees everything the subscriber holds. Idempotent; the HTTP layer calls it on `close`. */
  remove(sub: Subscriber): void {
    if (sub.mode === "closed") return;
    sub.mode = "closed";
    sub.pending = null;
    const group = sub.group;
    group.subscribers.delete(sub);
    if (group.subscribers.size === 0 && this.groups.get(group.key) === group) this.groups.delete(group.key);
    this.total--;
    const n = (this.perTenant.get(sub.tenantId) ?? 1) - 1;
    if (n <= 0) this.perTenant.delete(sub.tenantId);
    else this.perTenant.set(sub.tenantId, n);
  }

  /** A NOTIFY: remembered if this process has a subscriber of that conversation, read in a batch. */
  onNotification(n: GraphNotification): void {
    if (!this.groups.has(groupKey(n.tenantId, n.conversationId))) return;
    if (this.pendingIds.length >= MAX_PENDING_IDS) {
      // the reader is that far behind: drop the ids and catch every conversation up from the table
      this.pendingIds = [];
      this.resyncAll();
      return;
    }
    this.pendingIds.push(n.id);
    if (!this.fetching) {
      this.fetching = true;
      // setImmediate gathers the notifications of one burst into one query
      setImmediate(() => void this.fetchLoop());
    }
  }

  private async fetchLoop(): Promise<void> {
    try {
      while (this.pendingIds.length > 0) {
        const ids = this.pendingIds;
        this.pendingIds = [];
        let events: GraphEvent[];
        try {
          this.stats.fetches++;
          events = await this.o.store.readByIds(ids);
        } catch (error) {
          // these events never reach the live path; the table still has them
          this.o.metrics.count("event_fetch_failures", 1);
          this.o.log.warn("reading notified graph events failed; catching subscribers up", {
            error: error instanceof Error ? error.message : String(error),
          });
          this.scheduleResync();
          continue;
        }
        this.dispatch(events);
      }
    } finally {
      this.fetching = false;
    }
  }

  /** A burst of events (id order): one batch per conversation, one write per subscriber. */
  private dispatch(events: GraphEvent[]): void {
    let i = 0;
    while (i < events.length) {
      const first = events[i] as GraphEvent;
      let j = i + 1;
      while (j < events.length && (events[j] as GraphEvent).conversationId === first.conversationId) j++;
      const batch = events.slice(i, j);
      i = j;
      const group = this.groups.get(groupKey(first.tenantId, first.conversationId));
      if (!group) continue;
      if (first.id < group.maxLive) {
        // a writer appended to this conversation without its lock: a subscriber past this id never
        // gets it (Last-Event-ID resumption assumes ids commit in order within a conversation)
        this.stats.outOfOrder++;
        this.o.metrics.count("graph_event_out_of_order", 1);
        this.o.log.warn("graph event committed out of id order", {
          conversation_id: group.conversationId,
          event_id: first.id,
          type: first.type,
          after_id: group.maxLive,
        });
      }
      group.maxLive = Math.max(group.maxLive, (batch[batch.length - 1] as GraphEvent).id);
      if (group.catchingUp) {
        for (const event of batch) if (event.tenantId === group.tenantId) this.hold(group, event);
        continue;
      }
      this.deliverToGroup(group, batch);
    }
  }

  /**
   * Events of one conversation, in id order, to each of its subscribers: live ones get the events
   * above their last id in one write (frames formatted once per burst), the others buffer them.
   */
  private deliverToGroup(group: Group, batch: readonly GraphEvent[]): void {
    const events = batch.filter((e) => e.tenantId === group.tenantId);
    if (events.length === 0) return;
    const frames: string[] = [];
    let whole: string | undefined;
    const frameAt = (k: number) => {
      let f = frames[k];
      if (f === undefined) {
        f = formatEventFrame(events[k] as GraphEvent);
        frames[k] = f;
      }
      return f;
    };
    const last = events[events.length - 1] as GraphEvent;
    for (const sub of group.subscribers) {
      if (sub.mode === "live") {
        if (last.id <= sub.lastId) continue;
        let from = 0;
        while (from < events.length && (events[from] as GraphEvent).id <= sub.lastId) from++;
        const deleted = events.findIndex((e, k) => k >= from && e.type === "conversation.deleted");
        const to = deleted >= 0 ? deleted + 1 : events.length;
        let chunk: string;
        if (from === 0 && to === events.length) {
          if (whole === undefined) {
            for (let k = 0; k < events.length; k++) frameAt(k);
            whole = frames.join("");
          }
          chunk = whole;
        } else {
          chunk = "";
          for (let k = from; k < to; k++) chunk += frameAt(k);
        }
        this.write(sub, events[to - 1] as GraphEvent, chunk, to - from);
      } else if (sub.mode !== "closed") {
        for (const event of events) this.hold(sub, event);
      }
    }
  }

  /** Buffers a live event for a subscriber or group that is reading the table (bounded). */
  private hold(target: Subscriber | Group, event: GraphEvent): void {
    if (!target.pending) return;
    if (target.pending.length >= this.o.maxPendingEvents) {
      target.pending = [];
      target.overflowed = true;
      return;
    }
    target.pending.push(event);
  }

  /**
   * Writes frames whose last event is `event`; returns the bytes queued on the connection, or -1 if
   * the stream ended (a deletion ends it; a live subscriber over the buffer bound is cut).
   */
  private write(sub: Subscriber, event: GraphEvent, frames: string, count = 1): number {
    // a live client still holding more than the bound of earlier data is not keeping up: cut it
    // rather than buffer for it (it resumes with Last-Event-ID). Checked before the write, so one
    // event larger than the bound does not cut a client that reads.
    if (sub.mode === "live" && sub.sink.queuedBytes() > this.o.maxBufferedBytes) {
      this.cutSlow(sub);
      return -1;
    }
    sub.lastId = event.id;
    const queued = sub.sink.write(frames);
    this.stats.delivered += count;
    if (event.type === "conversation.deleted") {
      // nothing follows a deletion; a reconnect gets 404
      this.end(sub);
      return -1;
    }
    return queued;
  }

  private cutSlow(sub: Subscriber): void {
    this.stats.slowDisconnects++;
    this.o.metrics.count("sse_slow_disconnects", 1);
    this.o.log.info("slow subscriber disconnected", {
      conversation_id: sub.conversationId,
      last_event_id: sub.lastId,
    });
    this.remove(sub);
    sub.sink.destroy();
  }

  private end(sub: Subscriber, lastChunk?: string): void {
    this.remove(sub);
    sub.sink.end(lastChunk);
  }

  /** Flushes what arrived while opening or replaying, then live; synchronous, so nothing slips between. */
  private goLive(sub: Subscriber): void {
    const pending = sub.pending ?? [];
    sub.pending = null;
    sub.mode = "live";
    if (sub.group.catchingUp) sub.group.again = true;
    for (const event of pending) {
      if (sub.mode !== "live") return;
      if (event.id > sub.lastId) this.write(sub, event, formatEventFrame(event));
    }
  }

  /** Last-Event-ID: the table from that id on, page by page, at the client's pace; then live. */
  private async replay(sub: Subscriber): Promise<void> {
    try {
      for (;;) {
        const page = await this.o.store.readAfter(
          sub.tenantId,
          sub.conversationId,
          sub.lastId,
          this.o.replayPageSize,
        );
        if (sub.mode === "closed") return;
        for (const event of page) {
          if (event.id <= sub.lastId) continue;
          const queued = this.write(sub, event, formatEventFrame(event));
          this.stats.replayed++;
          if (queued < 0) return;
          if (queued > this.o.maxBufferedBytes && !(await sub.sink.drained())) {
            this.remove(sub);
            return;
          }
          if (isClosed(sub)) return;
        }
        if (page.length === this.o.replayPageSize) continue;
        if (sub.overflowed) {
          // the buffer dropped live events: they are in the table, read on
          sub.overflowed = false;
          sub.pending = [];
          continue;
        }
        break;
      }
      this.goLive(sub);
    } catch (error) {
      // the client reconnects with its Last-Event-ID and the replay starts over
      this.o.log.warn("replay failed; closing the stream", {
        error: error instanceof Error ? error.message : String(error),
      });
      if (sub.mode !== "closed") this.end(sub);
    }
  }

  /** The change feed was lost and is back: catch every conversation up from the table. */
  resyncAll(): void {
    this.stats.resyncs++;
    for (const group of this.groups.values()) {
      if (group.catchingUp) group.again = true;
      else if (!group.queued) {
        group.queued = true;
        this.resyncQueue.push(group);
      }
    }
    this.pumpResync();
  }

  private scheduleResync(): void {
    if (this.resyncTimer || this.closing) return;
    const delay = fullJitterDelay(this.resyncAttempt++, 100, 5_000);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.resyncAll();
    }, delay);
    this.resyncTimer.unref();
  }

  private pumpResync(): void {
    const limit = this.o.resyncConcurrency ?? 4;
    while (this.resyncRunning < limit && this.resyncQueue.length > 0) {
      const group = this.resyncQueue.shift() as Group;
      group.queued = false;
      if (group.subscribers.size === 0) continue;
      this.resyncRunning++;
      void this.catchUp(group).finally(() => {
        this.resyncRunning--;
        this.pumpResync();
      });
    }
  }

  private async catchUp(group: Group): Promise<void> {
    group.catchingUp = true;
    group.pending = [];
    try {
      do {
        group.again = false;
        group.overflowed = false;
        let from = Number.POSITIVE_INFINITY;
        for (const sub of group.subscribers) if (sub.mode === "live" && sub.lastId < from) from = sub.lastId;
        // subscribers still opening or replaying read the table themselves
        while (Number.isFinite(from)) {
          const page = await this.o.store.readAfter(
            group.tenantId,
            group.conversationId,
            from,
            this.o.replayPageSize,
          );
          this.deliverToGroup(group, page);
          this.stats.replayed += page.length;
          if (page.length < this.o.replayPageSize) break;
          from = (page[page.length - 1] as GraphEvent).id;
        }
        if (group.overflowed) group.again = true;
      } while (group.again && group.subscribers.size > 0);
      this.resyncAttempt = 0;
    } catch (error) {
      this.o.log.warn("catch-up failed; retrying", {
        error: error instanceof Error ? error.message : String(error),
      });
      this.scheduleResync();
    } finally {
      const pending = group.pending ?? [];
      group.pending = null;
      group.catchingUp = false;
      if (pending.length > 0) this.deliverToGroup(group, pending);
    }
  }

  private beat(): void {
    for (const group of this.groups.values()) {
      for (const sub of group.subscribers) {
        if (sub.mode !== "live" && sub.mode !== "replaying") continue;
        if (sub.mode === "live" && sub.sink.queuedBytes() > this.o.maxBufferedBytes) this.cutSlow(sub);
        else sub.sink.write(HEARTBEAT_FRAME);
      }
    }
  }

  /**
   * Shutdown: refuse new subscribers, tell every client when to come back (`retry:` with jitter,
   * so they do not all land on the next instance at once) and end its stream.
   */
  closeAll(): void {
    this.closing = true;
    clearInterval(this.heartbeat);
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncQueue = [];
    for (const group of [...this.groups.values()]) {
      for (const sub of [...group.subscribers]) {
        if (sub.mode === "opening") {
          this.remove(sub);
          sub.sink.destroy();
          continue;
        }
        this.end(sub, retryFrame(this.o.retryMs + Math.random() * this.o.retryMs));
      }
    }
  }
}
