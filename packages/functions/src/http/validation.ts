import { CandorError, validate } from "@candor/core";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { z } from "zod";

/** Field limits: generous for real use, small enough that nothing unbounded reaches the store. */
export const LIMITS = {
  title: 500,
  pathName: 64,
  contextName: 200,
  contextContent: 200_000,
  metadataBytes: 16_384,
  contextIds: 50,
} as const;

export const uuid = z.uuid({ message: "must be a UUID" });

/** Text the store can hold: Postgres text cannot contain NUL. */
export const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes("\u0000"), { message: "must not contain NUL characters" });

export const pathName = z
  .string()
  .min(1)
  .max(LIMITS.pathName)
  .regex(/^[A-Za-z0-9._-]+$/, "may contain only letters, digits, '.', '_' and '-'");

export const metadata = z
  .record(z.string().max(200), z.unknown())
  .refine((m) => Buffer.byteLength(JSON.stringify(m)) <= LIMITS.metadataBytes, {
    message: `must be at most ${LIMITS.metadataBytes} bytes of JSON`,
  });

/** The JSON body, validated: 400 naming the field, never a 500. */
export function parseBody<S extends z.ZodType>(event: APIGatewayProxyEventV2, schema: S): z.infer<S> {
  let raw: unknown;
  if (!event.body || event.body.trim() === "") {
    raw = {};
  } else {
    const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new CandorError("invalid_request", "The request body is not valid JSON");
    }
  }
  return validate(schema, raw);
}

export function parseQuery<S extends z.ZodType>(event: APIGatewayProxyEventV2, schema: S): z.infer<S> {
  return validate(schema, event.queryStringParameters ?? {}, "query ");
}

export function pathParam<S extends z.ZodType>(
  event: APIGatewayProxyEventV2,
  name: string,
  schema: S,
): z.infer<S> {
  const result = schema.safeParse(event.pathParameters?.[name]);
  if (!result.success) {
    throw new CandorError("invalid_request", `${name}: ${result.error.issues[0]?.message ?? "invalid"}`, {
      param: name,
    });
  }
  return result.data;
}

export const limitParam = z.coerce.number().int().min(1).max(100).default(20);

/** Opaque cursors: base64url JSON of the position; a tampered one is a 400. */
export function encodeCursor(value: unknown): string | null {
  return value === null || value === undefined
    ? null
    : Buffer.from(JSON.stringify(value)).toString("base64url");
}

export function decodeCursor<S extends z.ZodType>(cursor: string | undefined, schema: S): z.infer<S> | null {
  if (cursor === undefined) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  throw new CandorError("invalid_request", "cursor is not valid", { param: "cursor" });
}

export const listCursor = z.object({ created_at: z.string().min(1).max(64), id: uuid }).strict();
