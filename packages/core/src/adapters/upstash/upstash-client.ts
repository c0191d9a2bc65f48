import { Redis } from "@upstash/redis";

export interface UpstashClientOptions {
  url: string;
  token: string;
  /** Per-call timeout on the request path. */
  timeoutMs: number;
  /** Parse JSON strings into values (the ratelimit client needs it; the caches parse themselves). */
  automaticDeserialization: boolean;
}

/**
 * An Upstash REST client tuned for the request path:
 * - `signal` in the FUNCTION form, so a timeout throws (a plain aborted signal makes @upstash/redis
 *   resolve with garbage instead, see protocols.md A4);
 * - no retries: the default of 5 retries spends about 4 s of backoff on a dead Redis;
 * - no auto-pipelining: each call is one round trip whose failure belongs to that call.
 */
export function createUpstashClient(o: UpstashClientOptions): Redis {
  return new Redis({
    url: o.url,
    token: o.token,
    retry: { retries: 0 },
    signal: () => AbortSignal.timeout(o.timeoutMs),
    enableTelemetry: false,
    enableAutoPipelining: false,
    automaticDeserialization: o.automaticDeserialization,
  });
}
