/**
 * A deterministic fake model server that speaks the real Anthropic Messages and OpenAI Chat
 * Completions wire formats, so the real SDKs are exercised (STYLE.md rule 11) with no provider key.
 *
 * Routes: `POST /v1/messages` (Anthropic), `POST /v1/chat/completions` (OpenAI), `GET /v1/models`
 * (Anthropic shape when the request has `anthropic-version`, else OpenAI's), and a control surface
 * for the standalone process: `GET|PUT /_fake/behavior`, `POST /_fake/reset`, `GET /_fake/requests`.
 *
 * Replies and usage: completion.ts. Switches: behavior.ts. Keys and prompt text are never logged
 * or stored; the request log keeps only provider, model, flags, status and usage.
 * Conformance: tests/conformance/fake-provider.test.ts.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { anthropic } from "./anthropic";
import {
  BehaviorError,
  DEFAULT_BEHAVIOR,
  FailSequence,
  type FakeBehavior,
  parseBehavior,
  parseBehaviorJson,
} from "./behavior";
import { complete } from "./completion";
import { type Dialect, type ErrorKind, isInvalid, type ProviderName, type SseFrame } from "./dialect";
import { openai } from "./openai";

export type { ErrorStatus, FakeBehavior } from "./behavior";
export { BehaviorError, DEFAULT_BEHAVIOR, parseBehavior, parseBehaviorJson } from "./behavior";
export { countTokens } from "./completion";

/** Usage as billed: `input_tokens` excludes the cached tokens, which are `cached_input_tokens`. */
export type FakeUsage = { input_tokens: number; output_tokens: number; cached_input_tokens: number };

export type FakeRequestLogEntry = {
  readonly seq: number;
  readonly provider: ProviderName;
  /** "" when the body was refused before a model was read. */
  readonly model: string;
  readonly stream: boolean;
  /** HTTP status answered; 0 while nothing has been answered (or never, for `timeout`). */
  readonly status: number;
  /** The usage the answer carries, set once the part that carries it was written. */
  readonly usage?: FakeUsage;
  /** The client closed the connection before the answer was complete. */
  readonly aborted: boolean;
  /** The fake itself cut the connection (`dropMidStream`). */
  readonly dropped: boolean;
  /** The value of the provider's request id header. */
  readonly requestId: string;
};

export type FakeProviderOptions = {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Only this key is accepted when set; otherwise any non-empty key is. */
  apiKey?: string;
  /** Listed by `GET /v1/models`. Any model name is accepted by the completion routes. */
  models?: readonly string[];
  /** Initial switches. */
  behavior?: Partial<FakeBehavior>;
};

export type FakeProvider = {
  url: string;
  /** For `new Anthropic({ baseURL })` (the SDK appends `/v1/messages`). */
  anthropicBaseUrl: string;
  /** For `new OpenAI({ baseURL })` (the SDK appends `/chat/completions`). */
  openaiBaseUrl: string;
  /** Model requests received (both completion routes, whatever their outcome), since start or reset. */
  readonly requests: number;
  /** The last LOG_LIMIT model requests, oldest first. */
  readonly requestLog: readonly FakeRequestLogEntry[];
  /** Model requests not finished yet (answering, streaming or held by `timeout`). */
  readonly inFlight: number;
  readonly behavior: Readonly<FakeBehavior>;
  setBehavior(behavior: Partial<FakeBehavior>): void;
  /** Switches back to the start-up ones (`options.behavior`), counters and log cleared, failRate restarted. */
  reset(): void;
  /** Resolves when no model request is in flight (e.g. after a client abort reached the server). */
  settled(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
};

/** Bound of the request log: tests look at recent requests; a long `npm start` must not grow it. */
export const LOG_LIMIT = 10_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
export const FAKE_MODEL = "candor-fake-1";

type MutableEntry = { -readonly [K in keyof FakeRequestLogEntry]: FakeRequestLogEntry[K] };

class HttpError extends Error {
  constructor(
    readonly status: ErrorKind,
    message?: string,
  ) {
    super(message);
  }
}

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const models = options.models ?? [FAKE_MODEL];
  const initial: FakeBehavior = { ...DEFAULT_BEHAVIOR, ...parseBehavior(options.behavior ?? {}, "behavior") };
  let behavior = initial;
  let failures = new FailSequence(behavior.failSeed);
  let requests = 0;
  let seq = 0;
  let log: MutableEntry[] = [];
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];

  const setBehavior = (next: Partial<FakeBehavior>) => {
    const parsed = parseBehavior(next, "setBehavior");
    behavior = { ...behavior, ...parsed };
    if (parsed.failSeed !== undefined || parsed.failRate !== undefined) {
      failures = new FailSequence(behavior.failSeed);
    }
  };
  const reset = () => {
    behavior = initial;
    failures = new FailSequence(behavior.failSeed);
    requests = 0;
    log = [];
  };
  const finished = () => {
    inFlight--;
    if (inFlight === 0) for (const wake of idleWaiters.splice(0)) wake();
  };

  const handleModelRequest = async (dialect: Dialect, req: IncomingMessage, res: ServerResponse) => {
    requests++;
    inFlight++;
    const requestId = dialect.newRequestId();
    const entry: MutableEntry = {
      seq: ++seq,
      provider: dialect.provider,
      model: "",
      stream: false,
      status: 0,
      aborted: false,
      dropped: false,
      requestId,
    };
    log.push(entry);
    if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);

    let closed = false;
    const closedSignal = new Promise<void>((resolve) =>
      res.once("close", () => {
        closed = true;
        if (!res.writableFinished && !entry.dropped) entry.aborted = true;
        finished();
        resolve();
      }),
    );
    /** Waits `ms` or until the client goes away, whichever is first; true when the client is gone. */
    const wait = async (ms: number): Promise<boolean> => {
      if (ms > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise((r) => (timer = setTimeout(r, ms))), closedSignal]);
        clearTimeout(timer);
      }
      return closed;
    };

    let effective = behavior;
    res.setHeader(dialect.requestIdHeader, requestId);
    const sendError = (status: ErrorKind, detail?: string) => {
      entry.status = status;
      if (status === 429) res.setHeader("retry-after", String(effective.retryAfterSeconds));
      sendJson(res, status, dialect.errorBody(status, requestId, detail));
    };

    try {
      if (req.method !== "POST") throw new HttpError(405);
      const body = await readJson(req);
      const headerProblem = dialect.headerProblem(req);
      if (headerProblem) throw new HttpError(400, headerProblem);
      const presented = dialect.apiKey(req);
      if (!presented || (options.apiKey !== undefined && presented !== options.apiKey)) {
        throw new HttpError(401);
      }
      const override = req.headers["x-fake-behavior"];
      if (typeof override === "string") {
        effective = { ...behavior, ...parseBehaviorJson(override, "x-fake-behavior") };
      }
      const parsed = dialect.parse(body);
      if (!isInvalid(parsed)) {
        entry.model = parsed.model;
        entry.stream = parsed.stream;
      }

      if (await wait(effective.latencyMs)) return;
      if (effective.timeout) {
        await closedSignal; // held until the client aborts (or the server closes)
        return;
      }
      if (effective.status !== null) throw new HttpError(effective.status);
      if (effective.failRate > 0 && failures.next() < effective.failRate) {
        throw new HttpError(effective.failStatus);
      }
      if (isInvalid(parsed)) throw new HttpError(400, parsed.invalid);

      if (effective.malformed) {
        entry.status = 200;
        if (parsed.stream) {
          await writeFrames(res, dialect.malformedFrames(effective.malformed, parsed), effective, wait);
        } else if (effective.malformed === "schema") {
          sendJson(res, 200, dialect.schemaBreakingBody(parsed));
        } else {
          const text = JSON.stringify(dialect.body(complete({ ...parsed, ...switches(effective) }), parsed));
          res.writeHead(200, { "content-type": "application/json" });
          res.end(text.slice(0, Math.floor(text.length / 2)));
        }
        return;
      }

      const completion = complete({ ...parsed, ...switches(effective) });
      const usage: FakeUsage = {
        input_tokens: completion.promptTokens - completion.cachedTokens,
        output_tokens: completion.outputTokens,
        cached_input_tokens: completion.cachedTokens,
      };
      entry.status = 200;
      if (parsed.stream) {
        await writeFrames(res, dialect.frames(completion, parsed), effective, wait, {
          onFinal: () => {
            entry.usage = usage;
          },
          onDrop: () => {
            entry.dropped = true;
          },
        });
        return;
      }
      const text = JSON.stringify(dialect.body(completion, parsed));
      if (effective.dropMidStream !== null) {
        // the length promises the whole body; the socket closes half-way through it
        entry.dropped = true;
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
        res.write(text.slice(0, Math.floor(text.length / 2)), () => res.destroy());
        return;
      }
      sendText(res, 200, text);
      entry.usage = usage;
    } catch (error) {
      if (closed) return;
      if (error instanceof HttpError) sendError(error.status, error.message || undefined);
      else if (error instanceof BehaviorError) sendError(400, error.message);
      else sendError(500);
    }
  };

  const handleModels = (req: IncomingMessage, res: ServerResponse) => {
    const dialect = req.headers["anthropic-version"] ? anthropic : openai;
    const presented = dialect.apiKey(req);
    if (!presented || (options.apiKey !== undefined && presented !== options.apiKey)) {
      sendJson(res, 401, dialect.errorBody(401, dialect.newRequestId()));
      return;
    }
    sendJson(res, 200, dialect.models(models));
  };

  const handleControl = async (path: string, req: IncomingMessage, res: ServerResponse) => {
    try {
      if (path === "/_fake/behavior" && req.method === "GET") return sendJson(res, 200, behavior);
      if (path === "/_fake/behavior" && (req.method === "PUT" || req.method === "PATCH")) {
        setBehavior(parseBehavior(await readJson(req), "/_fake/behavior"));
        return sendJson(res, 200, behavior);
      }
      if (path === "/_fake/reset" && req.method === "POST") {
        reset();
        return sendJson(res, 200, behavior);
      }
      if (path === "/_fake/requests" && req.method === "GET") {
        return sendJson(res, 200, { requests, in_flight: inFlight, recent: log.slice(-100) });
      }
      sendJson(res, 404, { error: { message: `no control route ${req.method} ${path}` } });
    } catch (error) {
      const message = error instanceof Error ? error.message : "bad request";
      sendJson(res, error instanceof HttpError ? error.status : 400, { error: { message } });
    }
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://fake").pathname.replace(/\/+$/, "");
    const route =
      path === "/v1/messages"
        ? handleModelRequest(anthropic, req, res)
        : path === "/v1/chat/completions"
          ? handleModelRequest(openai, req, res)
          : path === "/v1/models" && req.method === "GET"
            ? handleModels(req, res)
            : path.startsWith("/_fake/")
              ? handleControl(path, req, res)
              : sendJson(res, 404, openai.errorBody(404, "", `Unknown route ${req.method} ${path}`));
    void Promise.resolve(route).catch(() => res.destroy());
  });
  // held `timeout` requests must not be cut by Node's own request timeout
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  // a wildcard bind is reachable on loopback, and a URL naming the wildcard is not portable
  const reachable = address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
  const url = `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;

  return {
    url,
    anthropicBaseUrl: url,
    openaiBaseUrl: `${url}/v1`,
    get requests() {
      return requests;
    },
    get requestLog() {
      return log;
    },
    get inFlight() {
      return inFlight;
    },
    get behavior() {
      return behavior;
    },
    setBehavior,
    reset,
    settled(timeoutMs = 5_000) {
      if (inFlight === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`fake provider: ${inFlight} request(s) still in flight`)),
          timeoutMs,
        );
        idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close: async () => {
      idleWaiters = [];
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const switches = (b: FakeBehavior) => ({ replyWords: b.replyWords, promptCaching: b.promptCaching });

type Wait = (ms: number) => Promise<boolean>;

async function writeFrames(
  res: ServerResponse,
  frames: SseFrame[],
  behavior: FakeBehavior,
  wait: Wait,
  hooks: { onFinal?: () => void; onDrop?: () => void } = {},
): Promise<void> {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
  });
  res.flushHeaders();
  let flushed = Promise.resolve();
  for (const [i, frame] of frames.entries()) {
    if (i > 0 && (await wait(behavior.streamChunkDelayMs))) return;
    if (res.destroyed) return;
    if (behavior.dropMidStream !== null && i >= behavior.dropMidStream) {
      hooks.onDrop?.();
      // the events written so far reach the client before the connection goes
      await Promise.race([flushed, new Promise((resolve) => res.once("close", resolve))]);
      res.destroy();
      return;
    }
    flushed = new Promise<void>((resolve) => res.write(frame.text, () => resolve()));
    if (frame.final) hooks.onFinal?.();
  }
  res.end();
}

const sendJson = (res: ServerResponse, status: number, body: unknown): void =>
  sendText(res, status, JSON.stringify(body));

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  // keep draining past the limit so the client reads the 413 instead of a reset connection
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) throw new HttpError(413);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "The request body is not valid JSON.");
  }
}
