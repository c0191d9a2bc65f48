import { CircuitOpenError } from "./circuit-breaker";

/** Why an Upstash call failed, in the vocabulary of the limiter and cache results. */
export function failureReason(error: unknown): "timeout" | "error" | "circuit_open" {
  if (error instanceof CircuitOpenError) return "circuit_open";
  const name = error instanceof Error ? error.name : "";
  const message = error instanceof Error ? error.message : String(error);
  if (name === "TimeoutError" || name === "AbortError" || /timeout|timed out|aborted/i.test(message)) {
    return "timeout";
  }
  return "error";
}
