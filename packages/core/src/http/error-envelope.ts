import { CandorError, type ErrorCode } from "../errors";

/**
 * The one place where error codes become HTTP statuses and API.md error types, for every process
 * that answers HTTP (the Lambda handlers and the realtime service).
 */
const STATUS: Record<ErrorCode, { status: number; type: string }> = {
  invalid_request: { status: 400, type: "invalid_request_error" },
  request_too_large: { status: 413, type: "request_too_large" },
  unauthenticated: { status: 401, type: "authentication_error" },
  forbidden: { status: 403, type: "permission_error" },
  not_found: { status: 404, type: "not_found_error" },
  conflict: { status: 409, type: "conflict_error" },
  turn_in_progress: { status: 409, type: "conflict_error" },
  budget_exceeded: { status: 402, type: "budget_exceeded" },
  rate_limited: { status: 429, type: "rate_limit_error" },
  provider_error: { status: 502, type: "provider_error" },
  provider_timeout: { status: 504, type: "timeout_error" },
  store_unavailable: { status: 503, type: "service_unavailable" },
  store_timeout: { status: 504, type: "timeout_error" },
  pricing_unavailable: { status: 503, type: "service_unavailable" },
  code_execution_unavailable: { status: 503, type: "service_unavailable" },
  configuration_error: { status: 503, type: "service_unavailable" },
  capacity_exceeded: { status: 503, type: "service_unavailable" },
  internal_error: { status: 500, type: "api_error" },
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code].status;
}

export interface ErrorEnvelope {
  status: number;
  headers: Record<string, string>;
  body: {
    error: { type: string; code: ErrorCode; message: string; param: string | null; request_id: string };
  };
}

/**
 * The API.md error envelope (OpenAI's shape). A 5xx carries only our own message: never a stack,
 * SQL, a key or a PostgREST detail. Anything that is not a CandorError is a 500 with a generic message.
 */
export function errorEnvelope(error: unknown, requestId: string): ErrorEnvelope {
  const e =
    error instanceof CandorError ? error : new CandorError("internal_error", "An unexpected error occurred");
  const { status, type } = STATUS[e.code];
  const headers: Record<string, string> = { "content-type": "application/json" };
  const retryAfter = e.retryAfterSeconds ?? (status === 503 ? 5 : undefined);
  if (retryAfter !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfter)));
  return {
    status,
    headers,
    body: { error: { type, code: e.code, message: e.message, param: e.param, request_id: requestId } },
  };
}
