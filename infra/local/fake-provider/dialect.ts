/**
 * What differs between the two wire formats, behind one shape: the server (index.ts) runs the same
 * pipeline (auth, switches, completion, streaming) and asks the dialect for headers and bodies.
 */
import type { IncomingMessage } from "node:http";
import type { ErrorStatus } from "./behavior";
import type { Completion, PromptPart } from "./completion";

export type ProviderName = "anthropic" | "openai";

export type ParsedRequest = {
  model: string;
  stream: boolean;
  /** OpenAI `stream_options.include_usage`; Anthropic streams always carry usage. */
  includeUsage: boolean;
  maxTokens: number | null;
  prompt: PromptPart[];
  lastUserText: string;
};

export type Invalid = { invalid: string; param?: string };

/** One SSE event as written; `final` marks the event that carries the final usage. */
export type SseFrame = { text: string; final?: boolean };

export type ErrorKind = ErrorStatus | 404 | 405 | 413;

export interface Dialect {
  provider: ProviderName;
  /** Name and a fresh value of the response header that identifies the request. */
  requestIdHeader: string;
  newRequestId(): string;
  /** The API key presented, or "" when none is. */
  apiKey(req: IncomingMessage): string;
  /** A header problem the real API refuses before anything else (Anthropic: anthropic-version). */
  headerProblem(req: IncomingMessage): string | null;
  parse(body: unknown): ParsedRequest | Invalid;
  errorBody(status: ErrorKind, requestId: string, detail?: string): unknown;
  body(completion: Completion, request: ParsedRequest): unknown;
  frames(completion: Completion, request: ParsedRequest): SseFrame[];
  /** The `malformed: "schema"` body: valid JSON, wrong shape. */
  schemaBreakingBody(request: ParsedRequest): unknown;
  /** The `malformed` stream: a first well-formed event, then a broken one. */
  malformedFrames(kind: "garbage" | "schema", request: ParsedRequest): SseFrame[];
  models(ids: readonly string[]): unknown;
}

export const sse = (data: unknown, event?: string): string =>
  `${event ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;

export const isInvalid = (v: ParsedRequest | Invalid): v is Invalid => "invalid" in v;

/** Random id suffix in the providers' style (base62). */
export function randomId(length: number): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}
