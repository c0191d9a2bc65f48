import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";
import { appendMessage, createConversation, STREAM_TOKEN_SECRET } from "./support/realtime-harness";
import { openSse } from "./support/sse-client";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The container's entry point, `packages/realtime/src/main.ts`, as a process of its own. */
function startMain(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
} {
  let output = "";
  const child = spawn(process.execPath, ["--import", "tsx", "packages/realtime/src/main.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", POWERTOOLS_METRICS_DISABLED: "true", ...env },
  });
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString("utf8");
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString("utf8");
  });
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exit };
}

describe.runIf(hasPostgres())("the realtime process (main.ts)", () => {
  let api: TestApi;
  let tenant: TestTenant;
  let env: Record<string, string>;

  beforeAll(async () => {
    api = await startTestApi({ env: { STREAM_TOKEN_SECRET } });
    tenant = await api.createTenant();
    const { supabase } = (await api.core()).config;
    env = {
      SUPABASE_URL: supabase.url,
      SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey,
      DATABASE_URL: inject("databaseUrl"),
      STREAM_TOKEN_SECRET,
      PORT: "0",
      LOG_LEVEL: "INFO",
      SSE_RETRY_MS: "1000",
    };
  });
  afterAll(async () => api?.stop());

  it("refuses to start without DATABASE_URL, naming it", async () => {
    const { DATABASE_URL: _, ...rest } = env;
    const main = startMain(rest);
    expect(await main.exit).toBe(1);
    expect(main.output()).toMatch(/DATABASE_URL/);
  });

  it("serves, emits its gauges as EMF, and on SIGTERM tells streams to retry, closes them and exits 0 within 10 s", async () => {
    const main = startMain({ ...env, POWERTOOLS_METRICS_DISABLED: "false", METRICS_INTERVAL_MS: "1000" });
    try {
      let url: string | undefined;
      const deadline = Date.now() + 30_000;
      while (!url && Date.now() < deadline) {
        url = /"message":"realtime service listening".*?"url":"([^"]+)"/.exec(main.output())?.[1];
        if (main.child.exitCode !== null) throw new Error(`main exited: ${main.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ dependencies: { supabase: "up", e2b: "unavailable" } });

      const conversationId = await createConversation(api, tenant);
      const stream = await openSse(`${url}/v1/conversations/${conversationId}/events`, {
        headers: { authorization: `Bearer ${tenant.key}` },
      });
      await appendMessage(api, tenant, conversationId, "hello");
      await stream.until(() => stream.events.length === 1);

      const signalled = performance.now();
      main.child.kill("SIGTERM");
      expect(await stream.ended).toBe("end");
      expect(stream.retry).toBeGreaterThanOrEqual(1_000);
      expect(await main.exit).toBe(0);
      expect(performance.now() - signalled).toBeLessThan(10_000);

      // CloudWatch embedded metric format on stdout: the pool and stream gauges, namespace Candor
      const emf = main
        .output()
        .split("\n")
        .filter((line) => line.includes('"_aws"'))
        .map(
          (line) =>
            JSON.parse(line) as Record<string, unknown> & {
              _aws: { CloudWatchMetrics: { Namespace: string }[] };
            },
        );
      const withPool = emf.find((m) => "db_pool_in_use" in m);
      expect(withPool?._aws.CloudWatchMetrics[0]?.Namespace).toBe("Candor");
      expect(withPool?.db_pool_in_use).toBeTypeOf("number");
      expect(emf.some((m) => "sse_subscribers" in m && "listen_connection_status" in m)).toBe(true);
    } finally {
      if (main.child.exitCode === null) main.child.kill("SIGKILL");
    }
  }, 60_000);
});
