import { CandorError, type ErrorCode } from "@candor/core";
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";

/** The one place where error codes become HTTP statuses and API.md error types. */
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
  internal_error: { status: 500, type: "api_error" },
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code].status;
}

/**
 * The API.md error envelope (OpenAI's shape). A 5xx carries only our own message: never a stack,
 * SQL, a key or a PostgREST detail. Unknown errors are 500 with a generic message.
 */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  const e =
    error instanceof CandorError ? error : new CandorError("internal_error", "An unexpected error occurred");
  const { status, type } = STATUS[e.code];
  const headers: Record<string, string> = { "content-type": "application/json" };
  const retryAfter = e.retryAfterSeconds ?? (status === 503 ? 5 : undefined);
  if (retryAfter !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfter)));
  return {
    statusCode: status,
    headers,
    body: JSON.stringify({
      error: { type, code: e.code, message: e.message, param: e.param, request_id: requestId },
    }),
  };
}
