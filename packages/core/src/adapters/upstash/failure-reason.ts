import { CircuitOpenError } from "./circuit-breaker";

/**
 * Our own deadline fired before Redis answered. @upstash/ratelimit reports its `timeout` as a
 * resolved `{ success: true, reason: "timeout" }`; the limiter turns that into this error so the
 * breaker counts it like any other failure.
 */
export class RedisTimeoutError extends Error {
  override readonly name = "TimeoutError";
}

/**
 * Why an Upstash call failed, in the vocabulary of the limiter and cache results:
 * `timeout` only when our deadline fired (AbortSignal.timeout on the fetch, or the ratelimit timeout);
 * `circuit_open` when the breaker refused the call without trying; anything else (connection refused
 * or reset, HTTP 401/500 from the endpoint, a body that is not JSON) is an `error`.
 */
export function failureReason(error: unknown): "timeout" | "error" | "circuit_open" {
  if (error instanceof CircuitOpenError) return "circuit_open";
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return "timeout";
  return "error";
}
