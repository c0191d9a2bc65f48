import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { Log } from "../domain/ports/logger.port";
import type { Metrics } from "../domain/ports/metrics.port";
import { DependencyStatus } from "./dependency-status";

/** What /health reports for the collector: not configured, exporting, or failing to export. */
export type OtelState = "exporting" | "off" | "failing";

export interface Tracing {
  state(): OtelState;
  /**
   * End of an invocation: exports the spans it produced. Bounded by the export timeout, and not
   * awaited at all while the collector is failing, so a dead collector never slows a request.
   */
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface CreateTracingOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT (the base URL; /v1/traces is appended). Unset: tracing is off. */
  endpoint: string | undefined;
  serviceName: string;
  stage: string;
  version: string;
  log: Log;
  metrics: Metrics;
  /** The current request's identifiers (request id, tenant id, route), added to every span. */
  requestAttributes: () => Attributes;
  /** Per export call; also bounds how long flush() can hold a request. */
  exportTimeoutMs?: number;
  /** Tests only: replaces the OTLP/HTTP exporter. */
  exporter?: SpanExporter;
}

const TRACER = "candor";
const DEFAULT_EXPORT_TIMEOUT_MS = 1_000;

/** `client`: a call to a dependency; `server`: one invocation of a handler (the parent of its calls). */
export type SpanRole = "client" | "server" | "internal";
const KINDS: Record<SpanRole, SpanKind> = {
  client: SpanKind.CLIENT,
  server: SpanKind.SERVER,
  internal: SpanKind.INTERNAL,
};

/** Supplies the request attributes to withSpan; replaced by createTracing (one per process). */
let requestAttributes: () => Attributes = () => ({});
/** While the SDK loads (once, at cold start, only when tracing is on), spans wait for it. */
let sdkLoading: Promise<void> | undefined;

/** @opentelemetry/core's ExportResultCode, without loading the SDK for two numbers. */
const EXPORT_SUCCESS = 0;
const EXPORT_FAILED = 1;

/**
 * Runs `fn` inside a span named `name` (a dependency call: CLIENT kind by default), with the current
 * request's id and tenant on it. A thrown error marks the span failed (its type only: an error
 * message may carry data) and is rethrown unchanged. With tracing off, the span is a no-op.
 */
export async function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  kind: SpanRole = "client",
): Promise<T> {
  // the first spans of a cold start wait for the SDK (tens of ms, once); afterwards this is a no-op
  if (sdkLoading) await sdkLoading;
  return trace.getTracer(TRACER).startActiveSpan(name, { kind: KINDS[kind] }, async (span) => {
    if (!span.isRecording()) {
      try {
        return await fn(span);
      } finally {
        span.end();
      }
    }
    span.setAttributes({ ...requestAttributes(), ...attributes });
    try {
      return await fn(span);
    } catch (error) {
      const type = error instanceof Error ? error.name : typeof error;
      span.setAttribute("error.type", type);
      span.setStatus({ code: SpanStatusCode.ERROR, message: type });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Attributes of an LLM provider call (OTel GenAI conventions): the provider and the model, never
 * the prompt or the completion.
 */
export function providerSpan(provider: string, model: string, stream = false): Attributes {
  return {
    "gen_ai.system": provider,
    "gen_ai.request.model": model,
    "gen_ai.operation.name": "chat",
    stream,
  };
}

/** Marks a span failed for an outcome that is not thrown (an error value, a bypass). */
export function markSpanFailed(span: Span, type: string): void {
  if (!span.isRecording()) return;
  span.setAttribute("error.type", type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/**
 * Context propagation over AsyncLocalStorage, so a span started inside another becomes its child
 * across awaits. (The same thing @opentelemetry/context-async-hooks provides, in a dozen lines.)
 */
class AsyncLocalContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const bound = thisArg === undefined ? fn : (fn.bind(thisArg) as F);
    return this.storage.run(ctx, bound, ...args);
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== "function") return target;
    const fn = target as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.storage.run(ctx, fn, ...args)) as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** OTLP/HTTP traces URL from the base endpoint, as the OTel spec builds it from the env variable. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/v1/traces`;
}

/**
 * Wraps the exporter to watch its results: a failure is counted (otel_export_failures) and logged
 * once per state change (up → down, down → up), never thrown to a request.
 */
class ObservedExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly status: DependencyStatus,
    private readonly metrics: Metrics,
    /**
     * An export with no answer by then is a failure (a collector that accepts and never answers). A
     * backstop: the OTLP exporter's own timeout (the same value) normally answers first.
     */
    private readonly timeoutMs: number,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let done = false;
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), {
        name: "TimeoutError",
      });
      finish({ code: EXPORT_FAILED, error });
    }, this.timeoutMs + 250);
    timer.unref();
    const finish = (result: ExportResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (result.code === EXPORT_SUCCESS) {
        this.status.report("up");
      } else {
        this.metrics.count("otel_export_failures", 1);
        this.status.report("down", { reason: failureReason(result.error), spans: spans.length });
      }
      resultCallback(result);
    };
    try {
      this.inner.export(spans, finish);
    } catch (error) {
      finish({
        code: EXPORT_FAILED,
        error: error instanceof Error ? error : new Error(String(error)),
      });
    }
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** A short, data-free reason: the error code (ECONNREFUSED) or HTTP status, never the message. */
function failureReason(error: Error | undefined): string {
  if (!error) return "unknown";
  const e = error as Error & { code?: unknown };
  if (typeof e.code === "string" || typeof e.code === "number") return String(e.code);
  return e.name || "Error";
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Tracing for this process, chosen once at cold start: with no endpoint, nothing is registered and
 * every span is a no-op, and the SDK is never loaded (it is a separate chunk of the bundle: a
 * function without tracing does not pay for it at cold start). With one, the SDK is loaded, and spans
 * go through a batch processor (its queue is the SDK's bounded 2048 spans; beyond that spans are
 * dropped, not buffered) to an OTLP/HTTP exporter.
 */
export function createTracing(o: CreateTracingOptions): Tracing {
  if (!o.endpoint && !o.exporter) {
    return { state: () => "off", flush: async () => {}, shutdown: async () => {} };
  }
  // the core that registers the tracer provider is the one whose requests the spans belong to
  requestAttributes = o.requestAttributes;
  const timeoutMs = o.exportTimeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS;
  // no gauge: the failures are counted, and /health reports the state
  const status = new DependencyStatus("otel_collector", undefined, o.log, o.metrics);
  let provider: { forceFlush(): Promise<void>; shutdown(): Promise<void> } | undefined;

  const load = async () => {
    const [{ BasicTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] =
      await Promise.all([
        import("@opentelemetry/sdk-trace-base"),
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/resources"),
      ]);
    const inner =
      o.exporter ??
      new OTLPTraceExporter({
        url: tracesUrl(o.endpoint as string),
        timeoutMillis: timeoutMs,
        concurrencyLimit: 4,
      });
    const p = new BasicTracerProvider({
      resource: resourceFromAttributes({
        "service.name": o.serviceName,
        "service.version": o.version,
        "deployment.environment.name": o.stage,
      }),
      forceFlushTimeoutMillis: timeoutMs,
      spanProcessors: [
        new BatchSpanProcessor(new ObservedExporter(inner, status, o.metrics, timeoutMs), {
          exportTimeoutMillis: timeoutMs,
          maxQueueSize: 2048,
          maxExportBatchSize: 512,
        }),
      ],
    });
    // Global registration happens once per process: the composition root builds one Core per cold start.
    context.setGlobalContextManager(new AsyncLocalContextManager());
    trace.setGlobalTracerProvider(p);
    provider = p;
  };
  const loading = load().then(
    () => {
      sdkLoading = undefined;
    },
    (error: unknown) => {
      // the SDK missing from the bundle is a packaging bug: say so once, run without traces
      sdkLoading = undefined;
      status.report("down", { reason: error instanceof Error ? error.name : "load_failed" });
    },
  );
  sdkLoading = loading;

  return {
    state: () => (status.current === "down" ? "failing" : "exporting"),
    async flush() {
      await loading;
      if (!provider) return;
      const flushed = provider.forceFlush().catch(() => {});
      // a failing collector is probed in the background, never on a request's time
      if (status.current === "down") return;
      await Promise.race([flushed, delay(timeoutMs + 100)]);
    },
    async shutdown() {
      await loading;
      await provider?.shutdown().catch(() => {});
    },
  };
}
