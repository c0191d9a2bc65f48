import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import {
  appendMessage,
  createConversation,
  eventIdsAfter,
  lastEventId,
  percentile,
  STREAM_TOKEN_SECRET,
  streamToken,
} from "./support/realtime-harness";

/**
 * The two heavy suites, in one file so that they never run at the same time as each other:
 * 1,000 subscribers of one conversation (fan-out, ordering, latency) and 5,000 idle subscribers
 * (memory). The service runs in a process of its own, as deployed, and the 1,000 subscribers in
 * another: the figures are not one event loop measuring itself (the test process, which also runs
 * the API, only commits).
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

type Message = { type: string; [k: string]: unknown };

/** A child process driven over IPC: ask() sends a message and resolves with the reply of that type. */
class Child {
  readonly exited: Promise<number | null>;
  private readonly inbox: Message[] = [];
  private readonly waiting: { type: string; resolve: (m: Message) => void }[] = [];

  constructor(readonly process: ChildProcess) {
    process.on("message", (m: Message) => {
      const i = this.waiting.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiting.splice(i, 1)[0]?.resolve(m);
      else this.inbox.push(m);
    });
    this.exited = new Promise((resolve) => process.on("exit", (code) => resolve(code)));
  }

  static start(script: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Child {
    return new Child(
      spawn(process.execPath, [...nodeArgs, "--import", "tsx", script], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "inherit", "ipc"],
        serialization: "advanced",
        env,
      }),
    );
  }

  next(type: string, timeoutMs = 60_000): Promise<Message> {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as Message);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${type}" from the child within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiting.push({
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then((code) => reject(new Error(`the child exited (${code}) before "${type}"`)));
    });
  }

  ask(message: Message, replyType: string, timeoutMs?: number): Promise<Message> {
    const reply = this.next(replyType, timeoutMs);
    this.process.send(message);
    return reply;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe.runIf(hasPostgres())("realtime under load", () => {
  let api: TestApi;
  let tenant: TestTenant;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    tenant = await api.createTenant();
  });
  afterAll(async () => api?.stop());

  /** The realtime service in its own process (tests/realtime/support/realtime-process.ts). */
  const startService = async (
    env: Record<string, string>,
  ): Promise<{ service: Child; url: string; port: number }> => {
    const { supabase } = (await api.core()).config;
    const service = Child.start(
      "tests/realtime/support/realtime-process.ts",
      {
        ...process.env,
        SUPABASE_URL: supabase.url,
        SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
        DATABASE_URL: inject("databaseUrl"),
        STREAM_TOKEN_SECRET,
        LOG_LEVEL: "ERROR",
        POWERTOOLS_METRICS_DISABLED: "true",
        ...env,
      },
      ["--expose-gc"],
    );
    const port = (await service.next("ready", 30_000)).port as number;
    return { service, url: `http://127.0.0.1:${port}`, port };
  };
  const stopService = async (service: Child | undefined) => {
    if (!service || service.process.exitCode !== null) return;
    service.process.send({ type: "stop" });
    const timer = setTimeout(() => service.process.kill("SIGKILL"), 10_000);
    await service.exited;
    clearTimeout(timer);
  };

  describe("fan-out: 1,000 subscribers of one conversation", () => {
    const SUBSCRIBERS = 1_000;
    const EVENTS = 100;
    const COMMIT_EVERY_MS = 20;
    let service: Child;
    let url = "";
    let clients: Child;
    const stats = async () =>
      (await service.ask({ type: "stats" }, "stats")) as unknown as {
        fetches: number;
        subscribers: number;
        conversations: number;
        cpu: NodeJS.CpuUsage;
      };
    const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

    beforeAll(async () => {
      ({ service, url } = await startService({ SSE_MAX_SUBSCRIBERS_PER_TENANT: "2000" }));
      clients = Child.start("tests/realtime/support/sse-load-client.ts", process.env);
      await clients.next("ready", 30_000);
    });
    afterAll(async () => {
      await clients?.stop();
      await stopService(service);
    });

    it("delivers every one of 100 committed events to each subscriber, in order, none twice", async () => {
      const conversationId = await createConversation(api, tenant);
      const token = await streamToken(api, tenant, conversationId);
      const start = await lastEventId(api, conversationId);

      // half with the API key (core.authenticate), half with a stream token (browsers' path)
      const opened = await clients.ask(
        {
          type: "open",
          url: `${url}/v1/conversations/${conversationId}/events`,
          count: SUBSCRIBERS,
          variants: [
            { query: "", headers: { authorization: `Bearer ${tenant.key}` } },
            { query: `?token=${encodeURIComponent(token)}`, headers: {} },
          ],
        },
        "opened",
      );
      expect((opened.statuses as number[]).filter((s) => s !== 200)).toEqual([]);
      const before = await stats();
      expect(before.subscribers).toBe(SUBSCRIBERS);

      // 100 commits, one every COMMIT_EVERY_MS (50 events a second into one conversation): 90 messages
      // through the append_message RPC, every tenth a title change through the HTTP API
      // (update_conversation). Paced, so that the figure is the latency of one event, not the depth
      // of a queue of events committed faster than 100,000 frames can be written and read here.
      const committedAt: number[] = [];
      const now = () => performance.timeOrigin + performance.now();
      const firstAt = now();
      for (let k = 0; k < EVENTS; k++) {
        const due = firstAt + k * COMMIT_EVERY_MS;
        if (now() < due) await new Promise((r) => setTimeout(r, due - now()));
        committedAt.push(now());
        if (k % 10 === 9) {
          const res = await api.fetch(`/v1/conversations/${conversationId}`, {
            method: "PATCH",
            key: tenant.key,
            json: { title: `title ${k}` },
          });
          expect(res.status).toBe(200);
        } else {
          await appendMessage(api, tenant, conversationId, `message ${k}`);
        }
      }
      const expected = await eventIdsAfter(api, conversationId, start);
      expect(expected).toHaveLength(EVENTS);

      const waited = await clients.ask({ type: "wait", events: EVENTS, timeoutMs: 30_000 }, "waited", 40_000);
      const { received, arrivals } = (await clients.ask({ type: "collect" }, "collected")) as unknown as {
        received: number[][];
        arrivals: number[][];
      };
      expect(waited.complete).toBe(true);
      expect(received).toHaveLength(SUBSCRIBERS);
      for (const ids of received) expect(ids).toEqual(expected); // every event, in order, none twice

      // the k-th event a subscriber receives is the k-th commit: latency from the start of its commit
      const latencies: number[] = [];
      for (const times of arrivals) {
        for (let k = 0; k < times.length; k++)
          latencies.push((times[k] as number) - (committedAt[k] as number));
      }
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      const after = await stats();
      const { fetches } = after;
      const serviceCpuPerEvent = (cpuMs(after.cpu) - cpuMs(before.cpu)) / EVENTS;
      console.log(
        `[realtime fan-out] ${SUBSCRIBERS} subscribers × ${EVENTS} events, one commit every ${COMMIT_EVERY_MS} ms: ` +
          `commit-to-client p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ` +
          `${fetches} event reads for ${EVENTS} notifications; service CPU ${serviceCpuPerEvent.toFixed(1)} ms per event`,
      );
      expect(latencies).toHaveLength(SUBSCRIBERS * EVENTS);
      // one read per notification burst, not per subscriber
      expect(fetches).toBeLessThanOrEqual(EVENTS);
      // the target is p99 ≤ 250 ms on the 2-core machine (printed above); the assertion leaves room for
      // a busy neighbour suite, not for a stall
      expect(p99).toBeLessThan(1_000);

      await clients.ask({ type: "close" }, "closed");
      const deadline = Date.now() + 10_000;
      while ((await stats()).subscribers > 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(await stats()).toMatchObject({ subscribers: 0, conversations: 0 });
    }, 90_000);
  });

  describe("memory of idle subscribers", () => {
    const IDLE_SUBSCRIBERS = 5_000;
    const CONVERSATIONS = 5;
    const MAX_RSS_PER_SUBSCRIBER = 30 * 1024;
    const MAX_HEAP_GROWTH = 5 * 1024 * 1024;
    let service: Child;
    let port = 0;

    interface Measurement {
      rss: number;
      heapUsed: number;
      subscribers: number;
      conversations: number;
    }
    const measure = async () =>
      (await service.ask({ type: "measure" }, "measurement")) as unknown as Measurement;

    beforeAll(async () => {
      ({ service, port } = await startService({
        SSE_MAX_SUBSCRIBERS: "10000",
        SSE_MAX_SUBSCRIBERS_PER_TENANT: "10000",
      }));
    });
    afterAll(async () => stopService(service));

    /** An idle SSE subscriber on a raw socket: it reads what comes (heartbeats) and keeps nothing. */
    const subscribe = (path: string): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("error", reject);
        socket.once("data", (chunk: Buffer) => {
          if (chunk.toString("latin1", 0, 12) === "HTTP/1.1 200") resolve(socket);
          else reject(new Error(`subscription refused: ${chunk.toString("utf8", 0, 200)}`));
          socket.on("data", () => {});
        });
        socket.write(`GET ${path} HTTP/1.1\r\nHost: realtime\r\nAccept: text/event-stream\r\n\r\n`);
      });

    const openMany = async (paths: string[], n: number): Promise<net.Socket[]> => {
      const sockets: net.Socket[] = [];
      for (let i = 0; i < n; i += 250) {
        const batch = Array.from({ length: Math.min(250, n - i) }, (_, k) =>
          subscribe(paths[(i + k) % paths.length] as string),
        );
        sockets.push(...(await Promise.all(batch)));
      }
      return sockets;
    };

    const closeAll = async (sockets: net.Socket[]) => {
      for (const s of sockets) s.destroy();
      const deadline = Date.now() + 20_000;
      while ((await measure()).subscribers > 0) {
        if (Date.now() > deadline) throw new Error("subscribers were not freed");
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

    it("5,000 idle subscribers cost at most 30 KB RSS each; the heap comes back when they leave", async () => {
      const paths: string[] = [];
      for (let i = 0; i < CONVERSATIONS; i++) {
        const conversationId = await createConversation(api, tenant, `memory ${i}`);
        const token = await streamToken(api, tenant, conversationId);
        paths.push(`/v1/conversations/${conversationId}/events?token=${encodeURIComponent(token)}`);
      }

      // warm-up: code paths compiled, pools grown; not part of the per-subscriber figure
      await closeAll(await openMany(paths, 500));
      const baseline = await measure();

      const sockets = await openMany(paths, IDLE_SUBSCRIBERS);
      const loaded = await measure();
      expect(loaded.subscribers).toBe(IDLE_SUBSCRIBERS);
      expect(loaded.conversations).toBe(CONVERSATIONS);

      await closeAll(sockets);
      const after = await measure();
      expect(after.conversations).toBe(0);

      const perSubscriber = (loaded.rss - baseline.rss) / IDLE_SUBSCRIBERS;
      const heapPerSubscriber = (loaded.heapUsed - baseline.heapUsed) / IDLE_SUBSCRIBERS;
      const heapGrowth = after.heapUsed - baseline.heapUsed;
      console.log(
        `[realtime memory] ${IDLE_SUBSCRIBERS} idle subscribers: RSS ${mb(baseline.rss)} → ${mb(loaded.rss)} ` +
          `(${kb(perSubscriber)} per subscriber; heap ${kb(heapPerSubscriber)} of it); after all left: heap ` +
          `${mb(baseline.heapUsed)} → ${mb(after.heapUsed)} (${heapGrowth >= 0 ? "+" : ""}${mb(heapGrowth)}), RSS ${mb(after.rss)}`,
      );
      expect(perSubscriber).toBeLessThanOrEqual(MAX_RSS_PER_SUBSCRIBER);
      expect(Math.abs(heapGrowth)).toBeLessThanOrEqual(MAX_HEAP_GROWTH);
    }, 120_000);
  });
});
