/**
 * One API instance in its own process, for tests that need several (a limit shared across
 * instances, a faulty instance measured against a healthy one): the Lambda handlers behind the
 * local API Gateway adapter, configured by the environment it is started with (SUPABASE_*,
 * UPSTASH_REDIS_REST_*, REDIS_KEY_PREFIX, REDIS_BREAKER_OPEN_MS, …), exactly as one more warm Lambda
 * would be. Prints `LISTENING <url>` on stdout once it accepts requests. With
 * CANDOR_TEST_CONTROL=1 it also prints `CONTROL <url>`: a second port whose `GET /state` answers this
 * process's metrics totals and breaker state (the Core the handlers use), for assertions.
 * Stops on SIGTERM or when its parent goes away (stdin closes).
 *
 *   node --import tsx tests/support/api-process.ts
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startLocalApi } from "../../infra/local/api-gateway";

const api = await startLocalApi({ port: 0 });
let control: ReturnType<typeof createServer> | undefined;
if (process.env.CANDOR_TEST_CONTROL === "1") {
  // the same module the handlers import, so the same Core: one per process, like a Lambda instance
  const { core } = await import("../../packages/functions/src/root");
  control = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ totals: core.metrics.totals(), breaker: core.breaker?.state ?? null }));
  });
  await new Promise<void>((resolve) => control?.listen(0, "127.0.0.1", resolve));
  process.stdout.write(`CONTROL http://127.0.0.1:${(control.address() as AddressInfo).port}\n`);
}
process.stdout.write(`LISTENING ${api.url}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  control?.close();
  await api.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
// an orphan must not outlive the test run that started it
process.stdin.on("end", () => void stop());
process.stdin.resume();
