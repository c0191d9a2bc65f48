import { ReplyError } from "ioredis";

/** An error Redis answered with (a 400 or a per-item `{error}`), as opposed to losing the connection (a 500). */
export const isRedisReplyError = (error: unknown): error is Error => error instanceof ReplyError;

const OK = Buffer.from("OK");

/**
 * A Redis reply (read with `callBuffer`, so bulk strings are exact bytes) as the JSON value Upstash
 * sends. With `Upstash-Encoding: base64` every string is base64, status replies such as PONG
 * included, except a top-level OK: the client keeps a top-level "OK" literally but would decode an
 * unencoded one anywhere else (protocols.md A3). Integers and nulls are never encoded.
 */
export function toUpstashValue(reply: unknown, base64: boolean, topLevel = true): unknown {
  if (Buffer.isBuffer(reply)) {
    if (!base64) return reply.toString("utf8");
    return topLevel && reply.equals(OK) ? "OK" : reply.toString("base64");
  }
  if (typeof reply === "string") return toUpstashValue(Buffer.from(reply), base64, topLevel);
  if (Array.isArray(reply)) return reply.map((item: unknown) => toUpstashValue(item, base64, false));
  // an error nested in a Lua table has no JSON slot of its own: keep its text
  if (reply instanceof Error) return toUpstashValue(Buffer.from(reply.message), base64, false);
  return reply ?? null;
}
