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
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
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
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    let done = false;
    const finish = (result: ExportResult) => {
      if (done) return;
      done = true;
      if (result.code === ExportResultCode.SUCCESS) {
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
        code: ExportResultCode.FAILED,
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
 * every span is a no-op; with one, spans go through a batch processor (its queue is the SDK's bounded
 * 2048 spans; beyond that spans are dropped, not buffered) to an OTLP/HTTP exporter.
 */
export function createTracing(o: CreateTracingOptions): Tracing {
  requestAttributes = o.requestAttributes;
  if (!o.endpoint && !o.exporter) {
    return { state: () => "off", flush: async () => {}, shutdown: async () => {} };
  }
  const timeoutMs = o.exportTimeoutMs ?? DEFAULT_EXPORT_TIMEOUT_MS;
  // no gauge: the failures are counted, and /health reports the state
  const status = new DependencyStatus("otel_collector", undefined, o.log, o.metrics);
  const inner =
    o.exporter ??
    new OTLPTraceExporter({
      url: tracesUrl(o.endpoint as string),
      timeoutMillis: timeoutMs,
      concurrencyLimit: 4,
    });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      "service.name": o.serviceName,
      "service.version": o.version,
      "deployment.environment.name": o.stage,
    }),
    forceFlushTimeoutMillis: timeoutMs,
    spanProcessors: [
      new BatchSpanProcessor(new ObservedExporter(inner, status, o.metrics), {
        exportTimeoutMillis: timeoutMs,
        maxQueueSize: 2048,
        maxExportBatchSize: 512,
      }),
    ],
  });
  // Global registration happens once per process: the composition root builds one Core per cold start.
  context.setGlobalContextManager(new AsyncLocalContextManager());
  trace.setGlobalTracerProvider(provider);

  return {
    state: () => (status.current === "down" ? "failing" : "exporting"),
    async flush() {
      const flushed = provider.forceFlush().catch(() => {});
      // a failing collector is probed in the background, never on a request's time
      if (status.current === "down") return;
      await Promise.race([flushed, delay(timeoutMs + 100)]);
    },
    async shutdown() {
      await provider.shutdown().catch(() => {});
    },
  };
}
