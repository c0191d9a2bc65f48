import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { CandorError, type Health, validate } from "@candor/core";
import { z } from "zod";
import { codeExecutionUnavailable, RealtimeError } from "../errors";
import type { RealtimeCore } from "../realtime-core";
import { type ExecuteCodeDeps, executeCode } from "../sandbox/execute-code";
import type { SubscriptionHub } from "../sse/subscription-hub";
import { authenticateCaller } from "./auth";
import { isServerFault, sendError } from "./error-response";
import { readJsonBody, uuidParam } from "./request";
import { ResponseSseSink } from "./sse-response-sink";
import { chatCompletion } from "./stream-completion";

export interface RealtimeServerDeps {
  core: RealtimeCore;
  hub: SubscriptionHub;
  /** Undefined when E2B is not configured: executions answer 503. */
  execution: ExecuteCodeDeps | undefined;
  executionTimeouts: { defaultMs: number; maxMs: number };
  health(): Promise<Health>;
  /** True once SIGTERM arrived: new requests are refused with 503 and `Connection: close`. */
  draining(): boolean;
}

const ROUTE = /^\/v1\/conversations\/([^/]+)\/(events|executions)$/;
const LAST_EVENT_ID = /^\d{1,15}$/;

// Bearer keys, no cookies: any origin may call (browsers' EventSource with a stream token included)
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers":
    "x-request-id, retry-after, x-ratelimit-mode, ratelimit-limit, ratelimit-remaining, ratelimit-reset",
};

/**
 * The realtime service's HTTP surface (API.md, "Routes (realtime service)"): handlers parse, call
 * the hub or one use case, and map the outcome; every error goes through error-response.ts.
 */
export function createRealtimeServer(deps: RealtimeServerDeps): Server {
  const ExecutionBody = z
    .object({
      language: z.enum(["python", "javascript"]),
      code: z
        .string()
        .min(1)
        .max(100_000)
        .refine((s) => !s.includes("\u0000"), { message: "must not contain NUL characters" }),
      timeout_ms: z.number().int().min(100).max(deps.executionTimeouts.maxMs).optional(),
    })
    .strict();

  async function streamEvents(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    rawId: string,
    headers: Record<string, string>,
  ) {
    const conversationId = uuidParam(rawId, "id");
    const token = url.searchParams.get("token");
    const caller = await authenticateCaller(
      deps.core,
      req,
      "conversations:read",
      headers,
      token ? { value: token, conversationId } : undefined,
    );
    // the header (sent by a reconnecting EventSource) is newer than a query parameter in the URL
    const header = req.headers["last-event-id"];
    const rawLast =
      (typeof header === "string" && header.trim() !== "" ? header.trim() : undefined) ??
      url.searchParams.get("last_event_id") ??
      undefined;
    if (rawLast !== undefined && !LAST_EVENT_ID.test(rawLast)) {
      throw new CandorError("invalid_request", "last_event_id: must be a graph event id", {
        param: "last_event_id",
      });
    }
    const sink = new ResponseSseSink(res, headers);
    const { subscriber, ready } = deps.hub.open({
      tenantId: caller.tenantId,
      conversationId,
      lastEventId: rawLast === undefined ? undefined : Number(rawLast),
      sink,
    });
    res.on("close", () => deps.hub.remove(subscriber));
    req.socket.setNoDelay(true);
    const result = await ready;
    if (result === "not_found") throw new CandorError("not_found", "conversation not found");
  }

  async function execute(
    req: IncomingMessage,
    res: ServerResponse,
    rawId: string,
    headers: Record<string, string>,
  ) {
    const conversationId = uuidParam(rawId, "id");
    const caller = await authenticateCaller(deps.core, req, "conversations:write", headers);
    if (!deps.execution) {
      throw codeExecutionUnavailable(
        "Code execution is not configured on this deployment (E2B_API_KEY is not set)",
      );
    }
    const body = validate(ExecutionBody, await readJsonBody(req, deps.core.config.maxBodyBytes));
    const result = await executeCode(
      {
        tenantId: caller.tenantId,
        conversationId,
        language: body.language,
        code: body.code,
        timeoutMs: body.timeout_ms ?? deps.executionTimeouts.defaultMs,
      },
      deps.execution,
    );
    res.writeHead(200, { ...headers, "content-type": "application/json" });
    res.end(JSON.stringify(result));
  }

  async function health(res: ServerResponse, headers: Record<string, string>) {
    const h = await deps.health();
    res.writeHead(h.status === "down" ? 503 : 200, {
      ...headers,
      "content-type": "application/json",
      "cache-control": "no-store",
    });
    res.end(JSON.stringify(h));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const requestId = randomUUID();
    const headers: Record<string, string> = { "x-request-id": requestId, ...CORS };
    try {
      const url = new URL(req.url ?? "/", "http://realtime.invalid");
      if (deps.draining()) {
        headers.connection = "close";
        throw new RealtimeError("capacity_exceeded", "This instance is shutting down; retry", {
          retryAfterSeconds: 1,
        });
      }
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          ...headers,
          "access-control-allow-methods": "GET, POST, OPTIONS",
          "access-control-allow-headers": "authorization, content-type, last-event-id, idempotency-key",
          "access-control-max-age": "86400",
        });
        res.end();
        return;
      }
      if (url.pathname === "/health" && req.method === "GET") return await health(res, headers);
      if (url.pathname === "/v1/chat/completions" && req.method === "POST") {
        return await chatCompletion(deps.core, req, res, headers);
      }
      const match = ROUTE.exec(url.pathname);
      const id = match?.[1];
      if (id !== undefined && match?.[2] === "events" && req.method === "GET") {
        return await streamEvents(req, res, url, id, headers);
      }
      if (id !== undefined && match?.[2] === "executions" && req.method === "POST") {
        return await execute(req, res, id, headers);
      }
      throw new CandorError("not_found", `No route ${req.method} ${url.pathname}`);
    } catch (error) {
      if (isServerFault(error)) {
        deps.core.log.error("unhandled error", {
          request_id: requestId,
          error:
            error instanceof Error
              ? { name: error.name, message: error.message, stack: error.stack }
              : String(error),
        });
      }
      sendError(res, error, requestId, headers);
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  // streams are long-lived: no socket inactivity timeout (heartbeats keep the path warm). Idle
  // keep-alive sockets outlive the load balancer's 120 s idle timeout, so the balancer, not this
  // process, closes them (else it may reuse a socket being closed: a 502).
  server.timeout = 0;
  server.keepAliveTimeout = 125_000;
  server.headersTimeout = 126_000;
  server.requestTimeout = 130_000;
  return server;
}
