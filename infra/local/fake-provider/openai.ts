/**
 * OpenAI Chat Completions wire format (`POST /v1/chat/completions`, `GET /v1/models`), as the real API
 * sends it and the `openai` SDK reads it: chat.completion, chat.completion.chunk SSE with `[DONE]`,
 * the `{error: {message, type, param, code}}` envelope.
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

type ErrorShape = { message: string; type: string; code: string | null };

const ERRORS: Record<ErrorKind, ErrorShape> = {
  400: { message: "Invalid request", type: "invalid_request_error", code: null },
  401: { message: "Incorrect API key provided.", type: "invalid_request_error", code: "invalid_api_key" },
  404: { message: "Not found", type: "invalid_request_error", code: "unknown_url" },
  405: { message: "Method not allowed", type: "invalid_request_error", code: null },
  413: { message: "Request too large", type: "invalid_request_error", code: null },
  429: {
    message: "Rate limit reached for requests (fake provider).",
    type: "requests",
    code: "rate_limit_exceeded",
  },
  500: {
    message: "The server had an error while processing your request. Sorry about that!",
    type: "server_error",
    code: null,
  },
  503: {
    message: "The engine is currently overloaded, please try again later.",
    type: "server_error",
    code: null,
  },
  529: {
    message: "The engine is currently overloaded, please try again later.",
    type: "server_error",
    code: null,
  },
};

// a constant vocabulary (6 roles), not state
const ROLES = new Set(["system", "developer", "user", "assistant", "tool", "function"]);

const usage = (c: Completion) => ({
  // OpenAI's prompt_tokens includes the cached ones
  prompt_tokens: c.promptTokens,
  completion_tokens: c.outputTokens,
  total_tokens: c.promptTokens + c.outputTokens,
  prompt_tokens_details: { cached_tokens: c.cachedTokens, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
});

const finishReason = (c: Completion) => c.finish;
const completionId = () => `chatcmpl-${randomId(29)}`;
const created = () => Math.floor(Date.now() / 1000);
const FINGERPRINT = "fp_candorfake";

function parse(body: unknown): ParsedRequest | { invalid: string; param?: string } {
  if (!isRecord(body)) return { invalid: "The request body must be a JSON object." };
  const { model, messages, tools, stream, stream_options: streamOptions } = body;
  if (typeof model !== "string" || model === "") {
    return { invalid: "you must provide a model parameter", param: "model" };
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    return { invalid: "'messages' must contain at least one message.", param: "messages" };
  }
  const limitKey = body.max_completion_tokens !== undefined ? "max_completion_tokens" : "max_tokens";
  const limit = body[limitKey];
  if (limit !== undefined && limit !== null && (!Number.isInteger(limit) || (limit as number) < 1)) {
    return { invalid: `Invalid '${limitKey}': expected an integer >= 1.`, param: limitKey };
  }
  const prompt: PromptPart[] = [];
  if (Array.isArray(tools) && tools.length > 0) prompt.push({ role: "tools", text: JSON.stringify(tools) });
  let lastUserText = "";
  for (const [i, m] of messages.entries()) {
    if (!isRecord(m) || !ROLES.has(String(m.role))) {
      return { invalid: `Invalid value for 'messages[${i}].role'.`, param: `messages.[${i}].role` };
    }
    const role = String(m.role);
    const toolCalls = Array.isArray(m.tool_calls) ? `\n${JSON.stringify(m.tool_calls)}` : "";
    prompt.push({ role, text: `${contentTokenText(m.content)}${toolCalls}` });
    if (role === "user") lastUserText = contentText(m.content);
  }
  return {
    model,
    stream: stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
    maxTokens: typeof limit === "number" ? limit : null,
    prompt,
    lastUserText,
  };
}

export const openai: Dialect = {
  provider: "openai",
  requestIdHeader: "x-request-id",
  newRequestId: () => `req_${randomId(32)}`,

  apiKey: (req: IncomingMessage) => /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? "")?.[1] ?? "",

  headerProblem: () => null,

  parse,

  errorBody(status, _requestId, detail) {
    const shape = ERRORS[status];
    return { error: { message: detail ?? shape.message, type: shape.type, param: null, code: shape.code } };
  },

  body: (c, r) => ({
    id: completionId(),
    object: "chat.completion",
    created: created(),
    model: r.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: c.text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: finishReason(c),
      },
    ],
    usage: usage(c),
    service_tier: "default",
    system_fingerprint: FINGERPRINT,
  }),

  frames(c, r): SseFrame[] {
    const head = { id: completionId(), object: "chat.completion.chunk", created: created(), model: r.model };
    // with include_usage every chunk carries `usage: null` and one last chunk carries the totals
    const tail = r.includeUsage ? { usage: null } : {};
    const chunk = (delta: object, finish: string | null) =>
      sse({
        ...head,
        service_tier: "default",
        system_fingerprint: FINGERPRINT,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...tail,
      });
    const frames: SseFrame[] = [{ text: chunk({ role: "assistant", content: "", refusal: null }, null) }];
    for (const piece of deltas(c.text)) frames.push({ text: chunk({ content: piece }, null) });
    frames.push({ text: chunk({}, finishReason(c)), final: !r.includeUsage });
    if (r.includeUsage) {
      frames.push({
        text: sse({
          ...head,
          service_tier: "default",
          system_fingerprint: FINGERPRINT,
          choices: [],
          usage: usage(c),
        }),
        final: true,
      });
    }
    frames.push({ text: sse("[DONE]") });
    return frames;
  },

  schemaBreakingBody: (r) => ({
    id: completionId(),
    object: "chat.completion",
    model: r.model,
    choices: null,
  }),

  malformedFrames(kind, r) {
    const head = { id: completionId(), object: "chat.completion.chunk", created: created(), model: r.model };
    const first = sse({
      ...head,
      choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
    });
    const broken =
      kind === "garbage"
        ? 'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"delta\n\n'
        : sse({ ...head, choices: null });
    return [{ text: first }, { text: broken }, { text: sse("[DONE]") }];
  },

  models: (ids) => ({
    object: "list",
    data: ids.map((id) => ({ id, object: "model", created: 1767225600, owned_by: "candor-fake" })),
  }),
};
