import type { Log } from "@candor/core";
import {
  type GraphEvent,
  type GraphEventStore,
  RealtimeError,
  type SseSink,
  SubscriptionHub,
} from "@candor/realtime";
import { describe, expect, it } from "vitest";

/**
 * The hub against a hand-written store and sinks (no network): the orderings that are hard to
 * force over real sockets are forced here.
 */
const TENANT = "00000000-0000-4000-8000-000000000001";
const OTHER_TENANT = "00000000-0000-4000-8000-000000000002";
const CONV = "00000000-0000-4000-8000-0000000000c1";

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const metrics = { count() {}, gauge() {}, timing() {}, flush() {} };

const event = (
  id: number,
  type = "message.created",
  conversationId = CONV,
  tenantId = TENANT,
): GraphEvent => ({
  id,
  tenantId,
  conversationId,
  type,
  payloadJson: `{"n":${id}}`,
  createdAt: "2026-01-01T00:00:00.000000Z",
});

/** graph_events in memory (a test fake), with a gate to hold readAfter calls open. */
class FakeStore implements GraphEventStore {
  rows: GraphEvent[] = [];
  readByIdsCalls = 0;
  readAfterCalls = 0;
  gate: Promise<void> | undefined;
  conversations = new Set([`${TENANT}/${CONV}`]);

  add(...events: GraphEvent[]) {
    this.rows.push(...events);
  }
  async openConversation(tenantId: string, conversationId: string) {
    if (!this.conversations.has(`${tenantId}/${conversationId}`)) return undefined;
    const ids = this.rows.filter((r) => r.conversationId === conversationId).map((r) => r.id);
    return { lastEventId: ids.length ? Math.max(...ids) : 0 };
  }
  async readByIds(ids: readonly number[]) {
    this.readByIdsCalls++;
    return this.rows.filter((r) => ids.includes(r.id)).sort((a, b) => a.id - b.id);
  }
  async readAfter(tenantId: string, conversationId: string, afterId: number, limit: number) {
    this.readAfterCalls++;
    const snapshot = this.rows
      .filter((r) => r.tenantId === tenantId && r.conversationId === conversationId && r.id > afterId)
      .sort((a, b) => a.id - b.id)
      .slice(0, limit);
    if (this.gate) await this.gate;
    return snapshot;
  }
}

class FakeSink implements SseSink {
  opened = false;
  chunks: string[] = [];
  ended = false;
  destroyed = false;
  queued = 0;
  open() {
    this.opened = true;
  }
  write(chunk: string) {
    this.chunks.push(chunk);
    return this.queued;
  }
  queuedBytes() {
    return this.queued;
  }
  async drained() {
    return !this.destroyed;
  }
  end(chunk?: string) {
    if (chunk) this.chunks.push(chunk);
    this.ended = true;
  }
  destroy() {
    this.destroyed = true;
  }
  get ids(): number[] {
    return [...this.chunks.join("").matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
  }
}

const hubWith = (store: FakeStore, o: Partial<ConstructorParameters<typeof SubscriptionHub>[0]> = {}) =>
  new SubscriptionHub({
    store,
    log: silent,
    metrics,
    heartbeatMs: 60_000,
    retryMs: 1_000,
    maxSubscribers: 100,
    maxSubscribersPerTenant: 100,
    maxBufferedBytes: 1_000,
    replayPageSize: 5,
    maxPendingEvents: 100,
    ...o,
  });

const tick = () => new Promise((r) => setImmediate(r));
const deferred = () => {
  let release = () => {};
  const promise = new Promise<void>((r) => {
    release = r;
  });
  return { promise, release };
};
/** Commits events: into the table, then the NOTIFY. */
const commit = (hub: SubscriptionHub, store: FakeStore, ...events: GraphEvent[]) => {
  store.add(...events);
  for (const e of events)
    hub.onNotification({ id: e.id, tenantId: e.tenantId, conversationId: e.conversationId });
};
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, k) => a + k);

describe("SubscriptionHub", () => {
  it("buffers live events during a replay and writes each event once, in order", async () => {
    const store = new FakeStore();
    store.add(...range(1, 43).map((i) => event(i)));
    const hub = hubWith(store);
    const gate = deferred();
    store.gate = gate.promise; // the first replay read is in flight…
    const sink = new FakeSink();
    const { ready } = hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: 40, sink });
    expect(await ready).toBe("open");
    // …while 44…50 commit and their notifications are read and dispatched
    commit(hub, store, ...range(44, 50).map((i) => event(i)));
    await tick();
    await tick();
    expect(sink.ids).toEqual([]); // nothing written past the replay
    store.gate = undefined;
    gate.release();
    await new Promise((r) => setTimeout(r, 10));
    expect(sink.ids).toEqual(range(41, 50));
    commit(hub, store, event(51));
    await tick();
    await tick();
    expect(sink.ids).toEqual(range(41, 51));
  });

  it("re-reads the table when the replay buffer overflows", async () => {
    const store = new FakeStore();
    store.add(...range(1, 12).map((i) => event(i)));
    const hub = hubWith(store, { maxPendingEvents: 3 });
    const gate = deferred();
    store.gate = gate.promise;
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: 10, sink }).ready;
    commit(hub, store, ...range(13, 30).map((i) => event(i))); // 18 live events, buffer of 3
    await tick();
    await tick();
    store.gate = undefined;
    gate.release();
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.ids).toEqual(range(11, 30));
  });

  it("starts a new subscriber after the conversation's last event", async () => {
    const store = new FakeStore();
    store.add(...range(1, 5).map((i) => event(i)));
    const hub = hubWith(store);
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    commit(hub, store, event(6));
    await tick();
    await tick();
    expect(sink.ids).toEqual([6]);
    expect(store.readAfterCalls).toBe(0); // no replay query for a new subscriber
  });

  it("reads a burst of notifications with one query, for every subscriber", async () => {
    const store = new FakeStore();
    const hub = hubWith(store);
    const sinks = range(1, 20).map(() => new FakeSink());
    for (const sink of sinks)
      await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    commit(hub, store, ...range(1, 50).map((i) => event(i)));
    await tick();
    await tick();
    expect(store.readByIdsCalls).toBe(1);
    for (const sink of sinks) {
      expect(sink.ids).toEqual(range(1, 50));
      expect(sink.chunks).toHaveLength(1); // one write per subscriber per burst
    }
  });

  it("never sends one tenant's events to another tenant's subscriber of the same id", async () => {
    const store = new FakeStore();
    const hub = hubWith(store);
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    commit(hub, store, event(1, "message.created", CONV, OTHER_TENANT), event(2));
    await tick();
    await tick();
    expect(sink.ids).toEqual([2]);
  });

  it("answers not_found for a conversation the tenant does not own, and frees the slot", async () => {
    const store = new FakeStore();
    const hub = hubWith(store);
    const sink = new FakeSink();
    const r = hub.open({ tenantId: OTHER_TENANT, conversationId: CONV, lastEventId: undefined, sink });
    expect(await r.ready).toBe("not_found");
    expect(sink.opened).toBe(false);
    expect(hub.size).toBe(0);
    expect(hub.conversations).toBe(0);
  });

  it("refuses subscribers over the per-tenant and per-process caps, and admits again after a leave", async () => {
    const store = new FakeStore();
    store.conversations.add(`${OTHER_TENANT}/${CONV}`);
    const hub = hubWith(store, { maxSubscribers: 3, maxSubscribersPerTenant: 2 });
    const open = (tenantId: string) =>
      hub.open({ tenantId, conversationId: CONV, lastEventId: undefined, sink: new FakeSink() });
    const a = open(TENANT);
    open(TENANT);
    expect(() => open(TENANT)).toThrow(RealtimeError);
    open(OTHER_TENANT);
    try {
      open(OTHER_TENANT);
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: "capacity_exceeded" });
      expect((error as RealtimeError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
    hub.remove(a.subscriber);
    expect(() => open(TENANT)).not.toThrow();
    expect(hub.tenantCount(TENANT)).toBe(2);
  });

  it("cuts a live subscriber whose socket queue is over the bound and frees its state", async () => {
    const store = new FakeStore();
    const hub = hubWith(store, { maxBufferedBytes: 100 });
    const slow = new FakeSink();
    const fast = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink: slow }).ready;
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink: fast }).ready;
    commit(hub, store, event(1));
    await tick();
    await tick();
    slow.queued = 101; // event 1 is still in its socket queue, and then some
    commit(hub, store, event(2));
    await tick();
    await tick();
    expect(slow.destroyed).toBe(true);
    expect(fast.destroyed).toBe(false);
    expect(hub.size).toBe(1);
    expect(hub.stats.slowDisconnects).toBe(1);
    commit(hub, store, event(3));
    await tick();
    await tick();
    expect(slow.ids).toEqual([1]);
    expect(fast.ids).toEqual([1, 2, 3]);
  });

  it("ends the stream after conversation.deleted", async () => {
    const store = new FakeStore();
    const hub = hubWith(store);
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    commit(hub, store, event(1), event(2, "conversation.deleted"), event(3));
    await tick();
    await tick();
    expect(sink.ids).toEqual([1, 2]);
    expect(sink.ended).toBe(true);
    expect(hub.size).toBe(0);
  });

  it("catches live subscribers up from the table after a resync, without duplicates", async () => {
    const store = new FakeStore();
    const hub = hubWith(store, { replayPageSize: 3 });
    const a = new FakeSink();
    const b = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink: a }).ready;
    commit(hub, store, event(1), event(2));
    await tick();
    await tick();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink: b }).ready;
    // the feed was down: 3…9 are in the table, their notifications never came
    store.add(...range(3, 9).map((i) => event(i)));
    const gate = deferred();
    store.gate = gate.promise;
    hub.resyncAll();
    commit(hub, store, event(10)); // the feed is back: a live one arrives during the catch-up
    await tick();
    await tick();
    store.gate = undefined;
    gate.release();
    await new Promise((r) => setTimeout(r, 20));
    expect(a.ids).toEqual(range(1, 10));
    expect(b.ids).toEqual(range(3, 10));
  });

  it("counts and logs an event whose id commits after a higher one (a writer without the conversation lock)", async () => {
    const store = new FakeStore();
    const hub = hubWith(store);
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    commit(hub, store, event(5));
    await tick();
    await tick();
    commit(hub, store, event(4)); // allocated before 5, committed after it
    await tick();
    await tick();
    expect(hub.stats.outOfOrder).toBe(1);
    expect(sink.ids).toEqual([5]); // what the id-order invariant costs when a writer breaks it
  });

  it("sends heartbeats as comments on one timer", async () => {
    const store = new FakeStore();
    const hub = hubWith(store, { heartbeatMs: 20 });
    const sink = new FakeSink();
    await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    await new Promise((r) => setTimeout(r, 90));
    expect(sink.chunks.filter((c) => c === ": heartbeat\n\n").length).toBeGreaterThanOrEqual(2);
    hub.closeAll();
  });

  it("on shutdown tells every client when to retry, ends the streams and refuses new ones", async () => {
    const store = new FakeStore();
    const hub = hubWith(store, { retryMs: 1_000 });
    const sinks = [new FakeSink(), new FakeSink()];
    for (const sink of sinks)
      await hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink }).ready;
    hub.closeAll();
    for (const sink of sinks) {
      expect(sink.ended).toBe(true);
      const retry = Number(/^retry: (\d+)$/m.exec(sink.chunks.at(-1) ?? "")?.[1]);
      expect(retry).toBeGreaterThanOrEqual(1_000);
      expect(retry).toBeLessThanOrEqual(2_000);
    }
    expect(hub.size).toBe(0);
    expect(() =>
      hub.open({ tenantId: TENANT, conversationId: CONV, lastEventId: undefined, sink: new FakeSink() }),
    ).toThrow(/shutting down/);
  });
});
