import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CompletionBody,
  chatCompletionChunk,
  chatCompletionUsageChunk,
  errorEnvelope,
  parseIdempotencyKey,
  requestHash,
  toChatCompletion,
  toPrompt,
  validate,
} from "@candor/core";
import type { RealtimeCore } from "../realtime-core";
import { authenticateCaller } from "./auth";
import { readJsonBody } from "./request";

/** The route key the Lambda route uses too: one idempotency space for both. */
const ROUTE = "POST /v1/chat/completions";

/**
 * OpenAI-compatible streaming chat completion: `data:` chunks then `[DONE]`, through the same turn
 * use case as the Lambda route (auth, limits, live price, budget, idempotency, ledger). Billed once,
 * at the end, from the provider's reported usage. A client that leaves mid-stream aborts the
 * provider call; what the provider reported by then is what is billed (fail_turn).
 * `stream: false` is answered as the Lambda route answers it.
 */
export async function chatCompletion(
  core: RealtimeCore,
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  const body = validate(CompletionBody, await readJsonBody(req, core.config.maxBodyBytes));
  const prompt = toPrompt(body.messages);
  const maxOut = body.max_completion_tokens ?? body.max_tokens ?? null;
  // counted only once the caller is authenticated: an anonymous request costs no tokenizer pass
  const tokens = async () =>
    (await core.turns.estimateTokens([prompt.system ?? "", ...prompt.messages.map((m) => m.content)])) +
    (maxOut ?? 0);
  const caller = await authenticateCaller(core, req, "completions", headers, undefined, tokens);
  const idempotencyKey = parseIdempotencyKey(
    typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : undefined,
  );

  const turn = {
    kind: "completion" as const,
    tenantId: caller.tenantId,
    model: body.model,
    system: prompt.system,
    messages: prompt.messages,
    maxOutputTokens: maxOut,
    temperature: body.temperature,
    idempotencyKey,
    requestHash: requestHash(ROUTE, {}, body),
  };

  if (!body.stream) {
    const { record, replayed } = await core.turns.run(turn);
    res.writeHead(200, {
      ...headers,
      "content-type": "application/json",
      ...(replayed ? { "idempotent-replayed": "true" } : {}),
    });
    res.end(JSON.stringify(toChatCompletion(record)));
    return;
  }

  const aborted = new AbortController();
  res.on("close", () => {
    if (!res.writableEnded) aborted.abort(new Error("client disconnected"));
  });
  const created = Math.floor(Date.now() / 1000);
  let id = "";
  let open = false;
  const send = (data: unknown) => {
    if (!res.destroyed) res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
  };
  const start = (turnId: string, replayed = false) => {
    id = `chatcmpl-${turnId}`;
    res.writeHead(200, {
      ...headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      ...(replayed ? { "idempotent-replayed": "true" } : {}),
    });
    res.socket?.setNoDelay(true);
    open = true;
    send(chatCompletionChunk(id, body.model, created, { role: "assistant", content: "" }));
  };

  try {
    const { record, replayed } = await core.turns.run({
      ...turn,
      signal: aborted.signal,
      onBegin: ({ turnId }) => start(turnId),
      onDelta: (text) => send(chatCompletionChunk(id, body.model, created, { content: text })),
    });
    if (replayed) {
      // the stored answer of the first request with this key, as one chunk
      start(record.turn_id, true);
      send(chatCompletionChunk(id, body.model, created, { content: record.assistant_message.content }));
    }
    send(
      chatCompletionChunk(id, body.model, created, {}, record.finish_reason === "length" ? "length" : "stop"),
    );
    if (body.stream_options?.include_usage) send(chatCompletionUsageChunk(record, id, created));
    send("[DONE]");
    res.end();
  } catch (error) {
    if (!open) throw error; // nothing sent yet: the caller answers with the error envelope
    // headers are gone: the error travels in the stream, as OpenAI's does
    send(errorEnvelope(error, headers["x-request-id"] ?? "").body);
    res.end();
  }
}
