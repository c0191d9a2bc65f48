import { parseIdempotencyKey } from "@candor/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";

export { requestHash } from "@candor/core";

/** The Idempotency-Key header of the event (validated), or null. */
export function idempotencyKey(event: APIGatewayProxyEventV2): string | null {
  return parseIdempotencyKey(event.headers["idempotency-key"]);
}
