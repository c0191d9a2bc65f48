import type { ServerResponse } from "node:http";
import { CandorError, errorEnvelope } from "@candor/core";
import { RealtimeError } from "../errors";

export interface ErrorBody {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The API.md error envelope, from core's one mapping (error-envelope.ts). */
export function errorBody(error: unknown, requestId: string): ErrorBody {
  const e = errorEnvelope(
    error instanceof RealtimeError
      ? new CandorError(error.code, error.message, {
          ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
        })
      : error,
    requestId,
  );
  return { status: e.status, headers: e.headers, body: JSON.stringify(e.body) };
}

export function sendError(
  res: ServerResponse,
  error: unknown,
  requestId: string,
  extra: Record<string, string> = {},
) {
  const e = errorBody(error, requestId);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(e.status, { ...extra, ...e.headers });
  res.end(e.body);
}

export const isServerFault = (error: unknown): boolean =>
  !(error instanceof CandorError || error instanceof RealtimeError) ||
  (error instanceof CandorError && error.code === "internal_error");
