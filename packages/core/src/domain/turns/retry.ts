import { ProviderError } from "../ports/model-provider.port";

export interface RetryOptions {
  /** Total attempts, the first included (at most 3). */
  attempts: number;
  baseMs: number;
  capMs: number;
  /** Absolute deadline (ms since epoch): no attempt starts after it. */
  deadline: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The one retry layer of a provider call: capped exponential backoff with full jitter, only for
 * retryable failures (throttling, 5xx, dropped connections), never past the deadline. A provider's
 * Retry-After is honoured when it fits before the deadline.
 */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions): Promise<T> {
  const random = o.random ?? Math.random;
  const sleep = o.sleep ?? defaultSleep;
  const attempts = Math.min(Math.max(o.attempts, 1), 3);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!(error instanceof ProviderError) || !error.retryable || attempt >= attempts) throw error;
      const backoff = random() * Math.min(o.capMs, o.baseMs * 2 ** (attempt - 1));
      const wait = Math.max(backoff, (error.options.retryAfterSeconds ?? 0) * 1000);
      if (Date.now() + wait >= o.deadline) throw error;
      await sleep(wait);
    }
  }
}
