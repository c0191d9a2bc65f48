import type { ExportResult } from "@opentelemetry/core";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import type { LogAttributes, MetricName, Metrics } from "../../packages/core/src";
import { createTracing, tracesUrl, withSpan } from "../../packages/core/src/observability/tracing";

/**
 * The tracing module with a hand-written exporter (no network): state, counting and logging of
 * export failures, and withSpan's contract. One tracer provider per process: the cases share it and
 * run in order.
 */

function fakeMetrics() {
  const counts: Partial<Record<MetricName, number>> = {};
  const metrics: Metrics = {
    count: (name, value = 1) => {
      counts[name] = (counts[name] ?? 0) + value;
    },
    gauge: () => {},
    timing: () => {},
    flush: () => {},
    totals: () => ({ ...counts }),
  };
  return { metrics, counts };
}

function fakeLog() {
  const lines: { level: string; message: string; attrs?: LogAttributes }[] = [];
  const at = (level: string) => (message: string, attrs?: LogAttributes) => {
    lines.push({ level, message, ...(attrs ? { attrs } : {}) });
  };
  return { log: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") }, lines };
}

/** Answers every export with the outcome set by the test, or throws when told to. */
class ScriptedExporter implements SpanExporter {
  outcome: "ok" | "fail" | "throw" | "hang" = "ok";
  exported: ReadableSpan[] = [];
  export(spans: ReadableSpan[], cb: (r: ExportResult) => void): void {
    if (this.outcome === "throw") throw new Error("exporter bug");
    if (this.outcome === "hang") return; // a collector that accepts the connection and never answers
    if (this.outcome === "fail") {
      cb({ code: 1, error: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
      return;
    }
    this.exported.push(...spans);
    cb({ code: 0 });
  }
  async shutdown() {}
}

describe("tracesUrl", () => {
  it("appends /v1/traces to the base endpoint, as the OTel spec builds it", () => {
    expect(tracesUrl("http://collector:4318")).toBe("http://collector:4318/v1/traces");
    expect(tracesUrl("https://otel.example.com/base/")).toBe("https://otel.example.com/base/v1/traces");
  });
});

describe("createTracing", () => {
  it("is off without an endpoint: spans are no-ops and flush does nothing", async () => {
    const { metrics } = fakeMetrics();
    const { log } = fakeLog();
    const tracing = createTracing({
      endpoint: undefined,
      serviceName: "t",
      stage: "test",
      version: "0",
      log,
      metrics,
      requestAttributes: () => ({}),
    });
    expect(tracing.state()).toBe("off");
    await expect(withSpan("x", {}, async (span) => span.isRecording())).resolves.toBe(false);
    await expect(tracing.flush()).resolves.toBeUndefined();
  });

  it("counts a failed export, logs the change once, reports failing, and recovers", async () => {
    const { metrics, counts } = fakeMetrics();
    const { log, lines } = fakeLog();
    const exporter = new ScriptedExporter();
    let requestId = "req-1";
    const tracing = createTracing({
      endpoint: "http://127.0.0.1:9",
      exporter,
      serviceName: "candor-test",
      stage: "test",
      version: "0",
      log,
      metrics,
      requestAttributes: () => ({ "candor.request_id": requestId }),
      exportTimeoutMs: 200,
    });
    expect(tracing.state()).toBe("exporting");

    // a span per call, nested calls are children, and a thrown error is rethrown unchanged
    const boom = new TypeError("nope");
    await withSpan(
      "outer",
      { a: 1 },
      async () => {
        await withSpan("inner", { b: 2 }, async () => "x");
        await expect(withSpan("failing", {}, async () => Promise.reject(boom))).rejects.toBe(boom);
      },
      "server",
    );
    await tracing.flush();
    const byName = new Map(exporter.exported.map((s) => [s.name, s]));
    expect([...byName.keys()].sort()).toEqual(["failing", "inner", "outer"]);
    const outer = byName.get("outer");
    expect(byName.get("inner")?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
    expect(byName.get("inner")?.attributes).toMatchObject({ b: 2, "candor.request_id": "req-1" });
    expect(byName.get("failing")?.status.code).toBe(2);
    expect(byName.get("failing")?.attributes["error.type"]).toBe("TypeError");
    expect(byName.get("failing")?.status.message).toBe("TypeError"); // never the message
    expect(counts.otel_export_failures).toBeUndefined();

    exporter.outcome = "fail";
    for (let i = 0; i < 3; i++) {
      requestId = `req-fail-${i}`;
      await withSpan("call", {}, async () => i);
      await tracing.flush();
      // while failing, the flush is not awaited: let the background export finish
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(tracing.state()).toBe("failing");
    expect(counts.otel_export_failures).toBe(3);
    const changes = lines.filter((l) => l.message === "dependency state changed");
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({
      level: "warn",
      attrs: { dependency: "otel_collector", to: "down", reason: "ECONNREFUSED" },
    });

    // an exporter that throws is a failure too, never a thrown request
    exporter.outcome = "throw";
    await withSpan("call", {}, async () => 0);
    await expect(tracing.flush()).resolves.toBeUndefined();
    await new Promise((r) => setTimeout(r, 20));
    expect(counts.otel_export_failures).toBe(4);

    exporter.outcome = "ok";
    await withSpan("call", {}, async () => 0);
    await tracing.flush();
    await new Promise((r) => setTimeout(r, 20));
    expect(tracing.state()).toBe("exporting");

    expect(lines.filter((l) => l.message === "dependency state changed").map((l) => l.attrs?.to)).toEqual([
      "down",
      "up",
    ]);
    expect(exporter.exported.at(-1)?.attributes["candor.request_id"]).toBe("req-fail-2");

    // a hanging collector holds an invocation at most the export timeout (200 ms here), and is a failure
    exporter.outcome = "hang";
    await withSpan("call", {}, async () => 0);
    const started = performance.now();
    await tracing.flush();
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(150);
    expect(waited).toBeLessThan(600);
    // counted when the exporter's deadline passes (the export timeout and a 250 ms backstop)
    await new Promise((r) => setTimeout(r, 400));
    expect(tracing.state()).toBe("failing");
    expect(counts.otel_export_failures).toBe(5);
    expect(lines.filter((l) => l.message === "dependency state changed").map((l) => l.attrs?.to)).toEqual([
      "down",
      "up",
      "down",
    ]);
  });
});
