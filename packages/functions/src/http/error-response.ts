import { errorEnvelope } from "@candor/core";
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";

/** The error envelope of @candor/core as an API Gateway result. */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  const e = errorEnvelope(error, requestId);
  return { statusCode: e.status, headers: e.headers, body: JSON.stringify(e.body) };
}
