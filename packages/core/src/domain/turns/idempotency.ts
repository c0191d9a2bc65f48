import { createHash } from "node:crypto";
import { CandorError } from "../../errors";

/** The Idempotency-Key header: 1–255 visible ASCII characters, or absent. */
export function parseIdempotencyKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw new CandorError("invalid_request", "Idempotency-Key must be 1 to 255 visible ASCII characters", {
      param: "Idempotency-Key",
    });
  }
  return header;
}

function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, stable((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** What makes two requests "the same" for an idempotency key: route, path ids and the parsed body. */
export function requestHash(route: string, params: Record<string, string>, body: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(stable({ route, params, body })))
    .digest("hex");
}
