import { CandorError, type Log } from "@candor/core";
import { type ExecutionRequest, SandboxPool } from "@candor/realtime";
import { afterEach, describe, expect, it } from "vitest";
import { FakeSandboxProvider, FakeSandboxStore } from "./support/fake-sandbox";

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const metrics = { count() {}, gauge() {}, timing() {}, flush() {} };
const T = "tenant-a";
const py = (code: string, timeoutMs = 1_000): ExecutionRequest => ({ language: "python", code, timeoutMs });
const settle = () => new Promise((r) => setTimeout(r, 5));

describe("SandboxPool (fake sandbox behind the same port)", () => {
  const pools: SandboxPool[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) await p.shutdown();
  });

  const setup = (o: { maxSize?: number; idleMs?: number; lifetimeMs?: number } = {}) => {
    const provider = new FakeSandboxProvider();
    const store = new FakeSandboxStore();
    let now = 1_000_000;
    const pool = new SandboxPool({
      provider,
      store,
      log: silent,
      metrics,
      maxSize: o.maxSize ?? 2,
      idleMs: o.idleMs ?? 60_000,
      lifetimeMs: o.lifetimeMs ?? 3_600_000,
      sweepMs: 3_600_000, // sweeps are driven by the test
      now: () => now,
    });
    pools.push(pool);
    return { pool, provider, store, advance: (ms: number) => (now += ms) };
  };

  it("keeps one sandbox per conversation and records its session", async () => {
    const { pool, provider, store } = setup();
    const a = await pool.run(T, "conv-1", py("print(1)"));
    const b = await pool.run(T, "conv-1", py("print(2)"));
    expect(a.output.stdout).toBe("1\n");
    expect(b.output.stdout).toBe("2\n");
    expect(provider.created).toHaveLength(1);
    expect(a.sandboxId).toBe(b.sandboxId);
    expect(store.statusOf(a.sandboxId)).toBe("running");
    await settle();
    expect([...store.sessions.values()][0]?.touched).toBe(2);
    expect(provider.lastLifetimeMs).toBe(3_600_000);
  });

  it("is bounded: a new conversation takes the least recently used idle slot", async () => {
    const { pool, provider, store } = setup({ maxSize: 2 });
    const one = await pool.run(T, "conv-1", py("1"));
    await pool.run(T, "conv-2", py("2"));
    await pool.run(T, "conv-1", py("1 again")); // conv-2 is now the least recently used
    await pool.run(T, "conv-3", py("3"));
    await settle();
    expect(pool.size).toBe(2);
    expect(pool.conversations()).toEqual(["conv-1", "conv-3"]);
    expect(provider.created.map((s) => s.killed)).toEqual([false, true, false]);
    expect(store.statusOf(provider.created[1]?.id as string)).toBe("evicted");
    expect(store.statusOf(one.sandboxId)).toBe("running");
  });

  it("refuses a new conversation with 503 when every sandbox is busy, and frees the slot after", async () => {
    const { pool, provider } = setup({ maxSize: 1 });
    const busy = pool.run(T, "conv-1", py("sleep"));
    await settle();
    const refused = await pool.run(T, "conv-2", py("2")).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CandorError);
    expect(refused).toMatchObject({ code: "code_execution_unavailable", retryAfterSeconds: 5 });
    provider.created[0]?.release();
    await busy;
    const ok = await pool.run(T, "conv-2", py("2"));
    expect(ok.output.error).toBeNull();
    expect(pool.conversations()).toEqual(["conv-2"]);
  });

  it("evicts sandboxes idle for idleMs, not busy or recently used ones", async () => {
    const { pool, provider, store, advance } = setup({ maxSize: 3, idleMs: 60_000 });
    await pool.run(T, "conv-old", py("1"));
    advance(30_000);
    await pool.run(T, "conv-recent", py("1"));
    const busy = pool.run(T, "conv-busy", py("sleep"));
    await settle();
    advance(40_000); // conv-old idle 70 s, conv-recent 40 s, conv-busy running
    expect(pool.sweep()).toBe(1);
    await settle();
    expect(pool.conversations().sort()).toEqual(["conv-busy", "conv-recent"]);
    expect(provider.created[0]?.killed).toBe(true);
    expect(store.statusOf(provider.created[0]?.id as string)).toBe("evicted");
    provider.created[2]?.release();
    await busy;
  });

  it("retires a sandbox near E2B's own lifetime before using it again", async () => {
    const { pool, provider, advance } = setup({ lifetimeMs: 600_000, idleMs: 3_600_000 });
    const first = await pool.run(T, "conv-1", py("1"));
    advance(550_000); // within a minute of E2B killing it
    const second = await pool.run(T, "conv-1", py("1"));
    expect(second.sandboxId).not.toBe(first.sandboxId);
    await settle();
    expect(provider.created[0]?.killed).toBe(true);
  });

  it("reports a timeout as the code's error and drops that sandbox", async () => {
    const { pool, provider, store } = setup();
    const r = await pool.run(T, "conv-1", py("hang", 250));
    expect(r.output.error).toMatchObject({ name: "TimeoutError", value: "Execution exceeded 250 ms" });
    await settle();
    expect(provider.created[0]?.killed).toBe(true);
    expect(store.statusOf(r.sandboxId)).toBe("evicted");
    expect(pool.size).toBe(0);
  });

  it("answers 503 when E2B cannot start a sandbox, and tries again next time", async () => {
    const { pool, provider } = setup();
    provider.failNext = true;
    await expect(pool.run(T, "conv-1", py("1"))).rejects.toMatchObject({
      code: "code_execution_unavailable",
    });
    expect(pool.size).toBe(0);
    const r = await pool.run(T, "conv-1", py("1"));
    expect(r.output.error).toBeNull();
  });

  it("kills every sandbox on shutdown, busy ones too, records it, and refuses new work", async () => {
    const { pool, provider, store } = setup({ maxSize: 3 });
    await pool.run(T, "conv-1", py("1"));
    await pool.run(T, "conv-2", py("2"));
    const busy = pool.run(T, "conv-3", py("sleep")).catch((e: unknown) => e);
    await settle();
    await pool.shutdown();
    expect(provider.alive).toHaveLength(0);
    expect([...store.sessions.values()].map((s) => s.status)).toEqual(["killed", "killed", "killed"]);
    expect(await busy).toMatchObject({ code: "code_execution_unavailable" });
    await expect(pool.run(T, "conv-4", py("4"))).rejects.toMatchObject({
      code: "code_execution_unavailable",
    });
    expect(pool.size).toBe(0);
  });
});
