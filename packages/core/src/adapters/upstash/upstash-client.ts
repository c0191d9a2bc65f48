import { Redis } from "@upstash/redis";

export interface UpstashClientOptions {
  url: string;
  token: string;
  /** Deadline of each call on the request path, retries included. */
  timeoutMs: number;
  /**
   * Retries after a network error (the fetch threw: refused, reset), sent at once and within the
   * same deadline. At most 1 on the request path; 0 for non-idempotent calls (see create-core).
   * An HTTP error status is never retried by the client.
   */
  retries: 0 | 1;
  /** Parse JSON strings into values (the ratelimit client needs it; the caches parse themselves). */
  automaticDeserialization: boolean;
}

/**
 * An Upstash REST client tuned for the request path:
 * - `signal` in the FUNCTION form, so a timeout throws (a plain aborted signal makes @upstash/redis
 *   resolve with garbage instead, see protocols.md A4). The client calls it once per command, before
 *   its retry loop, so the deadline covers the retry too: a call costs at most `timeoutMs`;
 * - retries explicit: the default of 5 retries with backoff spends about 4 s on a dead Redis;
 * - no auto-pipelining: each call is one round trip whose failure belongs to that call.
 */
export function createUpstashClient(o: UpstashClientOptions): Redis {
  return new Redis({
    url: o.url,
    token: o.token,
    retry: { retries: o.retries, backoff: () => 0 },
    signal: () => AbortSignal.timeout(o.timeoutMs),
    enableTelemetry: false,
    enableAutoPipelining: false,
    automaticDeserialization: o.automaticDeserialization,
  });
}
