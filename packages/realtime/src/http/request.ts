import type { IncomingMessage } from "node:http";
import { CandorError } from "@candor/core";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path id: 400 naming the parameter when it is not a UUID (as the API answers). */
export function uuidParam(value: string, name: string): string {
  if (!UUID.test(value)) throw new CandorError("invalid_request", `${name}: must be a UUID`, { param: name });
  return value.toLowerCase();
}

/** Reads the body up to `maxBytes` (413 past it) and parses it as JSON (400 if it is not). */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? "0");
  if (declared > maxBytes)
    throw new CandorError("request_too_large", `Request body is over ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new CandorError("request_too_large", `Request body is over ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new CandorError("invalid_request", "The request body is not valid JSON");
  }
}
