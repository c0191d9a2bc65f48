import { randomUUID } from "node:crypto";
import { CandorError, type Core, withSpan } from "@candor/core";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from "aws-lambda";
import { errorResponse } from "./error-response";

export interface RequestContext {
  event: APIGatewayProxyEventV2;
  requestId: string;
  /** Response headers every reply of this request carries (rate-limit headers, request id). */
  headers: Record<string, string>;
}

export type RouteHandler = (ctx: RequestContext) => Promise<APIGatewayProxyStructuredResultV2>;

export type LambdaHandler = (
  event: APIGatewayProxyEventV2,
  context?: Partial<Context>,
) => Promise<APIGatewayProxyStructuredResultV2>;

let coldStart = true;

/**
 * A Lambda handler for one function group: dispatches on the API Gateway route key, maps every
 * error through the one error mapping, flushes metrics at the end of the invocation.
 */
export function createHandler(core: Core, routes: Record<string, RouteHandler>): LambdaHandler {
  return async (event) => {
    const requestId = event.requestContext?.requestId || randomUUID();
    const isColdStart = coldStart;
    coldStart = false;
    core.log.appendKeys({ request_id: requestId, cold_start: isColdStart, route: event.routeKey });
    const headers: Record<string, string> = { "x-request-id": requestId };
    try {
      const route = routes[event.routeKey];
      if (!route) throw new CandorError("not_found", `No route ${event.routeKey}`);
      const bodyBytes = event.body
        ? Buffer.byteLength(event.body, event.isBase64Encoded ? "base64" : "utf8")
        : 0;
      if (bodyBytes > core.config.maxBodyBytes) {
        throw new CandorError("request_too_large", `Request body is over ${core.config.maxBodyBytes} bytes`);
      }
      // the invocation's span: every dependency call below is its child
      const res = await withSpan(event.routeKey, {}, () => route({ event, requestId, headers }), "server");
      return { ...res, headers: { ...headers, ...(res.headers as Record<string, string> | undefined) } };
    } catch (error) {
      if (!(error instanceof CandorError) || error.code === "internal_error") {
        core.log.error("unhandled error", {
          error:
            error instanceof Error
              ? { name: error.name, message: error.message, stack: error.stack }
              : String(error),
        });
      }
      const res = errorResponse(error, requestId);
      return { ...res, headers: { ...headers, ...(res.headers as Record<string, string>) } };
    } finally {
      // observability never fails a request: whatever it throws here is dropped, after one log line
      try {
        // spans first: an export failure is counted in this invocation's metrics
        await core.tracing.flush();
        core.metrics.flush();
      } catch (error) {
        core.log.warn("telemetry flush failed", { error: error instanceof Error ? error.name : "unknown" });
      } finally {
        core.log.resetKeys();
      }
    }
  };
}

export function json(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  if (statusCode === 204) return { statusCode, headers };
  return {
    statusCode,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}
