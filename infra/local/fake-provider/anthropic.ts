/**
 * Anthropic Messages API wire format (`POST /v1/messages`, `GET /v1/models`), as the real API sends
 * it and `@anthropic-ai/sdk` reads it: message object, SSE event sequence, error envelope.
 */
import type { IncomingMessage } from "node:http";
import {
  type Completion,
  contentText,
  contentTokenText,
  deltas,
  isRecord,
  type PromptPart,
} from "./completion";
import { type Dialect, type ErrorKind, type ParsedRequest, randomId, type SseFrame, sse } from "./dialect";

const ERRORS: Record<ErrorKind, [type: string, message: string]> = {
  400: ["invalid_request_error", "Invalid request"],
  401: ["authentication_error", "invalid x-api-key"],
  404: ["not_found_error", "Not found"],
  405: ["invalid_request_error", "Method not allowed"],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: [
    "rate_limit_error",
    "This request would exceed the rate limit for your organization (fake provider).",
  ],
  500: ["api_error", "Internal server error"],
  // Anthropic answers overload with 529; 503 is given the same type
  503: ["overloaded_error", "Overloaded"],
  529: ["overloaded_error", "Overloaded"],
};

type Usage = {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
};

const usage = (c: Completion, outputTokens = c.outputTokens): Usage => ({
  // Anthropic's input_tokens excludes the tokens read from the cache
  input_tokens: c.promptTokens - c.cachedTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: c.cachedTokens,
  output_tokens: outputTokens,
});

const stopReason = (c: Completion) => (c.finish === "length" ? "max_tokens" : "end_turn");

const messageId = () => `msg_01${randomId(22)}`;

function parse(body: unknown): ParsedRequest | { invalid: string; param?: string } {
  if (!isRecord(body)) return { invalid: "body: Input should be an object" };
  const { model, max_tokens: maxTokens, messages, system, tools, stream } = body;
  if (typeof model !== "string" || model === "") return { invalid: "model: Field required", param: "model" };
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < 1) {
    return { invalid: "max_tokens: Field required (an integer >= 1)", param: "max_tokens" };
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    return { invalid: "messages: at least one message is required", param: "messages" };
  }
  const prompt: PromptPart[] = [];
  const systemText = contentTokenText(system);
  if (systemText) prompt.push({ role: "system", text: systemText });
  if (Array.isArray(tools) && tools.length > 0) prompt.push({ role: "tools", text: JSON.stringify(tools) });
  let lastUserText = "";
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m) || !["user", "assistant", "system"].includes(String(m.role))) {
      return { invalid: `messages.${i}.role: Input should be 'user' or 'assistant'`, param: "messages" };
    }
    const role = String(m.role);
    prompt.push({ role, text: contentTokenText(m.content) });
    if (role === "user") lastUserText = contentText(m.content);
  }
  return {
    model,
    stream: stream === true,
    includeUsage: true,
    maxTokens: maxTokens as number,
    prompt,
    lastUserText,
  };
}

export const anthropic: Dialect = {
  provider: "anthropic",
  requestIdHeader: "request-id",
  newRequestId: () => `req_01${randomId(22)}`,

  apiKey(req: IncomingMessage): string {
    const key = req.headers["x-api-key"];
    if (typeof key === "string" && key.trim()) return key.trim();
    // the SDK's `authToken` option sends a bearer token instead
    return /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
  },

  headerProblem: (req) => (req.headers["anthropic-version"] ? null : "anthropic-version: header is required"),

  parse,

  errorBody(status, requestId, detail) {
    const [type, message] = ERRORS[status];
    return { type: "error", error: { type, message: detail ?? message }, request_id: requestId };
  },

  body: (c, r) => ({
    id: messageId(),
    type: "message",
    role: "assistant",
    model: r.model,
    content: [{ type: "text", text: c.text }],
    stop_reason: stopReason(c),
    stop_sequence: null,
    usage: { ...usage(c), service_tier: "standard" },
  }),

  frames(c, r): SseFrame[] {
    const id = messageId();
    const frames: SseFrame[] = [
      {
        text: sse(
          {
            type: "message_start",
            message: {
              id,
              type: "message",
              role: "assistant",
              model: r.model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              // the real API reports the full input and a first output token at the start
              usage: { ...usage(c, Math.min(1, c.outputTokens)), service_tier: "standard" },
            },
          },
          "message_start",
        ),
      },
      {
        text: sse(
          { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
          "content_block_start",
        ),
      },
      { text: sse({ type: "ping" }, "ping") },
    ];
    for (const piece of deltas(c.text)) {
      frames.push({
        text: sse(
          { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: piece } },
          "content_block_delta",
        ),
      });
    }
    frames.push({ text: sse({ type: "content_block_stop", index: 0 }, "content_block_stop") });
    frames.push({
      // cumulative totals: the SDK overwrites its snapshot's usage with them
      text: sse(
        {
          type: "message_delta",
          delta: { stop_reason: stopReason(c), stop_sequence: null },
          usage: usage(c),
        },
        "message_delta",
      ),
      final: true,
    });
    frames.push({ text: sse({ type: "message_stop" }, "message_stop") });
    return frames;
  },

  schemaBreakingBody: (r) => ({ id: messageId(), type: "message", model: r.model, content: "not a list" }),

  malformedFrames(kind, r) {
    const start = sse(
      {
        type: "message_start",
        message: { id: messageId(), type: "message", role: "assistant", model: r.model },
      },
      "message_start",
    );
    const broken =
      kind === "garbage"
        ? 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta\n\n'
        : sse({ type: "content_block_delta", index: "zero", delta: null }, "content_block_delta");
    return [{ text: start }, { text: broken }];
  },

  models: (ids) => ({
    data: ids.map((id) => ({
      type: "model",
      id,
      display_name: id,
      created_at: "2026-01-01T00:00:00Z",
    })),
    has_more: false,
    first_id: ids[0] ?? null,
    last_id: ids.at(-1) ?? null,
  }),
};
