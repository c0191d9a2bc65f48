/**
 * Issue 5: "Over 20,000 requests with Redis down, the process heap grows by less than 5 MB after GC."
 * The requests run in a child process with --expose-gc (tests/support/outage-memory.ts), against the
 * real local Upstash endpoint whose link to the real Redis is cut (Redis refused).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type LocalUpstash, startLocalUpstash } from "../../infra/local/upstash/index";
import { hasRedis } from "../support/requires";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy";

const root = fileURLToPath(new URL("../..", import.meta.url));
const MB = 1024 * 1024;

interface Phase {
  requests: number;
  reasons: Record<string, number>;
  bypassed?: number;
  heapBefore: number;
  heapAfter: number;
  elapsedMs: number;
}
interface Result {
  core: Phase;
  network: Phase;
  breaker: string;
}

describe.runIf(hasRedis())("memory during a Redis outage (issue 5)", () => {
  let link: TcpProxy;
  let upstash: LocalUpstash;
  let upstashRequests = 0;
  const token = randomUUID();

  beforeAll(async () => {
    const redis = new URL(inject("redisUrl"));
    link = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const proxied = new URL(redis);
    proxied.port = String(link.port);
    upstash = await startLocalUpstash({
      redisUrl: proxied.toString(),
      token,
      port: 0,
      onRequest: () => {
        upstashRequests++;
      },
    });
    await link.cut(); // Redis is down for the whole test
  });
  afterAll(async () => {
    await upstash?.close();
    await link?.close();
  });

  it("20,000 requests with Redis down: heap grows < 5 MB after GC, every one allowed and counted", async ({
    signal,
  }) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ["--expose-gc", "--import", "tsx", "tests/support/outage-memory.ts"],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          UPSTASH_REDIS_REST_URL: upstash.url,
          UPSTASH_REDIS_REST_TOKEN: token,
          REDIS_KEY_PREFIX: `${inject("redisPrefix")}outage:`,
          REQUESTS: "20000",
          NETWORK_REQUESTS: "500",
        },
        // stdout carries the metrics' EMF lines: dropped; the result comes over IPC
        stdio: ["ignore", "ignore", "pipe", "ipc"],
        // a timed-out test does not leave the child running
        signal,
      },
    );
    child.on("error", () => {});
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => {
      stderr = (stderr + c.toString("utf8")).slice(-4_000);
    });
    const result = await new Promise<Result>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Result));
      child.once("exit", (code) => reject(new Error(`outage-memory exited with ${code}: ${stderr}`)));
    });

    const growth = (p: Phase) => (p.heapAfter - p.heapBefore) / MB;
    console.log(
      `[faults] outage memory (node --expose-gc --import tsx tests/support/outage-memory.ts): ` +
        `${result.core.requests} requests through the Core with Redis refused in ${(result.core.elapsedMs / 1000).toFixed(1)} s, ` +
        `reasons ${JSON.stringify(result.core.reasons)}, rate_limit_bypass_count +${result.core.bypassed}, ` +
        `heap ${(result.core.heapBefore / MB).toFixed(2)} → ${(result.core.heapAfter / MB).toFixed(2)} MB ` +
        `(${growth(result.core) >= 0 ? "+" : ""}${growth(result.core).toFixed(3)} MB); ` +
        `${result.network.requests} requests with every call on the network in ${(result.network.elapsedMs / 1000).toFixed(1)} s, ` +
        `reasons ${JSON.stringify(result.network.reasons)}, heap ${growth(result.network) >= 0 ? "+" : ""}${growth(result.network).toFixed(3)} MB; ` +
        `endpoint requests ${upstashRequests}`,
    );

    expect(result.core.requests).toBe(20_000);
    // every request allowed (the child throws otherwise), bypassed, and counted once
    expect(result.core.bypassed).toBe(20_000);
    expect(Object.values(result.core.reasons).reduce((a, b) => a + b, 0)).toBe(20_000);
    expect(result.core.reasons.enforced).toBeUndefined();
    // the breaker kept most of them off the network; its probes still went (every 100 ms)
    expect(result.core.reasons.circuit_open ?? 0).toBeGreaterThan(19_000);
    expect(growth(result.core)).toBeLessThan(5);
    // the worst case: every call fails on the network, nothing of it stays behind either
    expect(result.network.reasons.error).toBe(500);
    expect(growth(result.network)).toBeLessThan(5);
  }, 300_000);
});
