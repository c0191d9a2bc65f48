import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FakeProvider, startFakeProvider } from "../../infra/local/fake-provider";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { type CapturedOutput, captureOutput, emfDocuments, logRecords, metricValues } from "./capture";

/**
 * OpenTelemetry through the local API: OTEL_EXPORTER_OTLP_ENDPOINT points at a port where nothing
 * listens (the collector is down), then a tiny OTLP/HTTP collector starts on that same port. Requests
 * never fail or wait because of the collector; the failure is logged once per change and counted;
 * /health says "failing", then "exporting"; the spans that arrive carry the request id.
 * One process, one tracer provider: the phases run in order.
 */

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}
interface OtlpBody {
  resourceSpans: { resource: { attributes: OtlpAttribute[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

const attr = (span: OtlpSpan, key: string) => {
  const v = span.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue ?? v?.boolValue;
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An OTLP/HTTP (JSON) trace collector: accepts every export and keeps the bodies. */
async function startCollector(port: number) {
  const bodies: OtlpBody[] = [];
  const raw: string[] = [];
  const read = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const buf = Buffer.concat(chunks);
    return (req.headers["content-encoding"] === "gzip" ? gunzipSync(buf) : buf).toString("utf8");
  };
  const server: Server = createServer(async (req, res) => {
    const text = await read(req);
    if (req.method === "POST" && req.url === "/v1/traces") {
      raw.push(text);
      bodies.push(JSON.parse(text) as OtlpBody);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    bodies,
    raw,
    spans: (): OtlpSpan[] =>
      bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans))),
    resources: () => bodies.flatMap((b) => b.resourceSpans.map((r) => r.resource)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.runIf(hasPostgres())("OpenTelemetry export from the local API", () => {
  let api: TestApi;
  let t: TestTenant;
  let out: CapturedOutput;
  let port: number;
  let collector: Awaited<ReturnType<typeof startCollector>> | undefined;
  let fake: FakeProvider;
  const TITLE = `trace-canary-${randomUUID()}`;
  const PROMPT = `prompt-canary-${randomUUID()}`;
  const MODEL = "candor-fake-1";

  const health = async () =>
    (await (await api.fetch("/health")).json()) as { status: string; dependencies: { otel: string } };
  /**
   * The spans of one request. The invocation flushes them before answering, but that wait is capped
   * (the export timeout): on a loaded machine the batch may land just after the response.
   */
  const spansOf = async (
    requestId: string,
    complete: (spans: OtlpSpan[]) => boolean,
  ): Promise<OtlpSpan[]> => {
    let mine: OtlpSpan[] = [];
    for (let i = 0; i < 50; i++) {
      mine = collector?.spans().filter((s) => attr(s, "candor.request_id") === requestId) ?? [];
      if (complete(mine)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return mine;
  };
  const otelChanges = () =>
    logRecords(out.lines()).filter(
      (r) => r.message === "dependency state changed" && r.dependency === "otel_collector",
    );

  beforeAll(async () => {
    out = captureOutput();
    port = await freePort();
    fake = await startFakeProvider();
    api = await startTestApi({
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        POWERTOOLS_METRICS_DISABLED: "false",
        LOG_LEVEL: "INFO",
        OPENAI_API_KEY: "test-openai-key",
        OPENAI_BASE_URL: fake.openaiBaseUrl,
        PROVIDER_TIMEOUT_MS: "3000",
      },
    });
    t = await api.createTenant();
    await api.db.query(
      "select public.set_model_price('openai', $1, '1', '2', '0.5', now() - interval '1 day')",
      [MODEL],
    );
    await api.db.query("select public.set_tenant_policy($1, $2::text::jsonb)", [
      t.tenantId,
      JSON.stringify({ allowed_providers: ["openai"], allowed_models: [MODEL], default_model: MODEL }),
    ]);
  });
  afterAll(async () => {
    out?.restore();
    await api?.stop();
    await collector?.close();
    await fake?.close();
  });

  it("with the collector down: requests succeed without waiting on it, the failure is counted and logged once", async () => {
    const timings: number[] = [];
    for (let i = 0; i < 6; i++) {
      const started = performance.now();
      const res = await api.fetch("/v1/conversations", { key: t.key });
      timings.push(performance.now() - started);
      expect(res.status).toBe(200);
    }
    // the first flush (cold start included) waits at most the export timeout (1 s); once failing, nothing waits
    // (the bound of that first wait is checked exactly in tracing-unit.test.ts)
    expect(timings[0]).toBeLessThan(8_000);
    for (const ms of timings.slice(2)) expect(ms).toBeLessThan(500);

    const h = await health();
    expect(h.dependencies.otel).toBe("failing");
    expect(h.status).toBe("degraded");

    const failures = metricValues(
      emfDocuments(out.lines()).filter((d) => d.dimensions.service === "candor-api"),
      "otel_export_failures",
    );
    expect(failures.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    expect((await api.core()).metrics.totals().otel_export_failures).toBeGreaterThanOrEqual(1);

    const changes = otelChanges();
    expect(changes.map((c) => c.to)).toEqual(["down"]);
    expect(changes[0]?.reason).toBe("ECONNREFUSED");
    expect(changes[0]?.level).toBe("WARN");
  });

  it("when the collector comes up: exporting again, logged once, and the spans carry the request id", async () => {
    collector = await startCollector(port);
    // the failing state is probed in the background at the end of each invocation
    let state = "failing";
    for (let i = 0; i < 40 && state !== "exporting"; i++) {
      await api.fetch("/v1/conversations", { key: t.key });
      await new Promise((r) => setTimeout(r, 50));
      state = (await health()).dependencies.otel;
    }
    expect(state).toBe("exporting");
    expect(otelChanges().map((c) => c.to)).toEqual(["down", "up"]);

    const res = await api.fetch("/v1/conversations", { method: "POST", key: t.key, json: { title: TITLE } });
    expect(res.status).toBe(201);
    const requestId = res.headers.get("x-request-id") ?? "";
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);

    const mine = await spansOf(requestId, (ss) => ss.some((x) => x.kind === 2));
    const server = mine.find((s) => s.name === "POST /v1/conversations");
    expect(server).toBeDefined();
    expect(server?.kind).toBe(2); // SERVER
    const rpcs = mine.filter((s) => s.name.startsWith("supabase.rpc "));
    expect(rpcs.map((s) => attr(s, "db.operation.name"))).toEqual(
      expect.arrayContaining(["authenticate_api_key", "create_conversation"]),
    );
    for (const span of rpcs) {
      expect(span.kind).toBe(3); // CLIENT
      expect(span.traceId).toBe(server?.traceId);
      expect(span.parentSpanId).toBe(server?.spanId);
      expect(attr(span, "db.system.name")).toBe("postgresql");
    }
    // the tenant is known once the key is: the calls after authentication carry it
    const create = rpcs.find((s) => attr(s, "db.operation.name") === "create_conversation");
    expect(attr(create as OtlpSpan, "candor.tenant_id")).toBe(t.tenantId);
    const resource = collector.resources()[0]?.attributes ?? [];
    expect(resource.find((a) => a.key === "service.name")?.value.stringValue).toBe("candor-api");

    // spans name calls, never carry their arguments
    expect(collector.raw.join("\n").includes(TITLE)).toBe(false);
    expect(collector.raw.join("\n").includes(t.key)).toBe(false);
  });

  it("spans the provider call of a turn, with the model and the request id, never the prompt", async () => {
    const conv = await api.fetch("/v1/conversations", { method: "POST", key: t.key, json: {} });
    const { id } = (await conv.json()) as { id: string };
    const res = await api.fetch(`/v1/conversations/${id}/messages`, {
      method: "POST",
      key: t.key,
      json: { content: PROMPT },
    });
    expect(res.status).toBe(201);
    const requestId = res.headers.get("x-request-id") ?? "";
    const mine = await spansOf(requestId, (ss) => ss.some((x) => x.kind === 2));
    const server = mine.find((s) => s.kind === 2);
    const provider = mine.find((s) => s.name === "openai chat.completions.create");
    expect(provider).toBeDefined();
    expect(provider?.kind).toBe(3);
    expect(provider?.parentSpanId).toBe(server?.spanId);
    expect(attr(provider as OtlpSpan, "gen_ai.request.model")).toBe(MODEL);
    expect(attr(provider as OtlpSpan, "gen_ai.system")).toBe("openai");
    // the turn's two database round trips are spans too
    const rpcs = mine
      .filter((s) => s.name.startsWith("supabase.rpc "))
      .map((s) => attr(s, "db.operation.name"));
    expect(rpcs).toEqual(expect.arrayContaining(["begin_turn", "complete_turn"]));
    // the fake echoes the prompt: neither it nor the answer may be in a span
    expect(collector?.raw.join("\n").includes(PROMPT)).toBe(false);
  });

  it("marks a failed dependency call as an error span", async () => {
    await api.postgresLink.cut();
    let requestId = "";
    try {
      const res = await api.fetch("/v1/conversations", { key: t.key });
      expect(res.status).toBe(503);
      requestId = res.headers.get("x-request-id") ?? "";
    } finally {
      await api.postgresLink.restore();
    }
    const spans = await spansOf(requestId, (ss) => ss.some((x) => x.kind === 2));
    const rpc = spans.find((s) => s.name.startsWith("supabase.rpc "));
    expect(rpc?.status?.code).toBe(2); // ERROR
    expect(attr(rpc as OtlpSpan, "error.type")).toMatch(/^http_5\d\d$|^network$/);
    const server = spans.find((s) => s.kind === 2);
    expect(server?.status?.code).toBe(2);
  });
});
