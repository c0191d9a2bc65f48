/**
 * The realtime service alone in a process, as deployed (its own event loop, its own RSS): started by
 * tests/realtime/load.test.ts as `node --expose-gc --import tsx tests/realtime/support/realtime-process.ts`,
 * driven over IPC: {type: "measure"} → memory and subscriber counts after GC; {type: "stats"} → the
 * hub's counters; {type: "stop"}. Environment: the service's own (SUPABASE_*, DATABASE_URL, SSE_*…).
 */
import { createCore, loadConfig } from "@candor/core";
import { loadRealtimeConfig, startPostgresRealtime } from "@candor/realtime";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) {
  console.error("run with --expose-gc, as a child process with an IPC channel");
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error("DATABASE_URL is required");

const core = createCore(loadConfig(process.env), { serviceName: "candor-realtime-memory" });
const service = await startPostgresRealtime({
  core,
  config: loadRealtimeConfig(process.env),
  databaseUrl,
  sandboxes: undefined,
  host: "127.0.0.1",
  port: 0,
});

async function measure() {
  for (let i = 0; i < 6; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
  const m = process.memoryUsage();
  return {
    type: "measurement",
    rss: m.rss,
    heapUsed: m.heapUsed,
    subscribers: service.hub.size,
    conversations: service.hub.conversations,
  };
}

process.on("message", (msg: { type: string }) => {
  if (msg.type === "measure") {
    void measure().then((m) => process.send?.(m));
  } else if (msg.type === "stats") {
    process.send?.({
      type: "stats",
      cpu: process.cpuUsage(),
      ...service.hub.stats,
      subscribers: service.hub.size,
      conversations: service.hub.conversations,
    });
  } else if (msg.type === "stop") {
    void service.stop().then(() => process.exit(0));
  }
});
process.send({ type: "ready", port: service.port });
