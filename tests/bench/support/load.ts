/**
 * The one HTTP client of the benchmarks: node:http with a keep-alive agent per target, a fixed
 * number of workers, each request timed from `request()` to the last byte of the answer. Direct
 * calls to the fake provider, calls through Candor and calls through the peer gateway all go
 * through this same code, so their difference is what the server in the middle adds.
 */
import { Agent, request } from "node:http";

export interface HttpCall {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Target {
  name: string;
  /** `http://127.0.0.1:port` (a path prefix of the calls is part of `path`). */
  base: string;
  agent: Agent;
  expectStatus: number;
  make(i: number): HttpCall;
}

export interface LoadResult {
  /** Requests sent (ok + failed): fewer than asked when `maxMs` ran out first. */
  sent: number;
  latencies: number[];
  elapsedMs: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  firstFailure?: string;
}

/** Per-request ceiling: a request stuck longer than this is a failure, not a latency. */
const REQUEST_TIMEOUT_MS = 30_000;

export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

function once(
  target: Target,
  call: HttpCall,
): Promise<{ status: number; ms: number; body: string; error?: string }> {
  const url = new URL(target.base);
  const body = call.body ?? "";
  return new Promise((resolve) => {
    const start = performance.now();
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: call.method,
        path: call.path,
        agent: target.agent,
        headers: {
          ...call.headers,
          ...(call.body !== undefined ? { "content-length": Buffer.byteLength(body) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            ms: performance.now() - start,
            body:
              res.statusCode === target.expectStatus
                ? ""
                : Buffer.concat(chunks).toString("utf8").slice(0, 500),
          }),
        );
        res.on("error", (e) =>
          resolve({ status: 0, ms: performance.now() - start, body: "", error: e.message }),
        );
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error("request timeout")));
    req.on("error", (e) => resolve({ status: 0, ms: performance.now() - start, body: "", error: e.message }));
    req.end(body);
  });
}

/**
 * `requests` calls (`make(offset + i)`) with `concurrency` workers. Latencies of failed calls are
 * kept out of `latencies` and counted in `failed`. With `maxMs`, no new call starts after that long
 * (a busy machine shortens the run instead of blowing the whole benchmark's time budget).
 */
export async function runLoad(
  target: Target,
  o: { concurrency: number; requests: number; offset?: number; maxMs?: number },
): Promise<LoadResult> {
  const offset = o.offset ?? 0;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let next = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const started = performance.now();
  const deadline = o.maxMs === undefined ? Number.POSITIVE_INFINITY : started + o.maxMs;
  const worker = async () => {
    for (;;) {
      if (performance.now() > deadline) return;
      const i = next++;
      if (i >= o.requests) return;
      const r = await once(target, target.make(offset + i));
      const key = r.status === 0 ? "error" : String(r.status);
      statuses[key] = (statuses[key] ?? 0) + 1;
      if (r.status === target.expectStatus) latencies.push(r.ms);
      else {
        failed++;
        firstFailure ??= `${target.name}: ${r.status} ${r.error ?? r.body}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, worker));
  return {
    sent: latencies.length + failed,
    latencies,
    elapsedMs: performance.now() - started,
    ok: latencies.length,
    failed,
    statuses,
    ...(firstFailure ? { firstFailure } : {}),
  };
}

export function mergeLoads(results: readonly LoadResult[]): LoadResult {
  const statuses: Record<string, number> = {};
  for (const r of results)
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const firstFailure = results.find((r) => r.firstFailure)?.firstFailure;
  return {
    sent: results.reduce((a, r) => a + r.sent, 0),
    latencies: results.flatMap((r) => r.latencies),
    elapsedMs: results.reduce((a, r) => a + r.elapsedMs, 0),
    ok: results.reduce((a, r) => a + r.ok, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    statuses,
    ...(firstFailure ? { firstFailure } : {}),
  };
}
