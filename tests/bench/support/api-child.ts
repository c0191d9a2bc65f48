/**
 * Candor's API under benchmark, alone in its process (so its CPU time is its own): the Lambda
 * handlers behind the local API Gateway v2 adapter, configured by the environment it is started
 * with, exactly as one warm Lambda per function group would be. Started with --expose-gc so the
 * driver can read a settled heap.
 *
 *   node --expose-gc --import tsx tests/bench/support/api-child.ts   (started by the bench driver, with IPC)
 */
import { startLocalApi } from "../../../infra/local/api-gateway";
import { serveIpc } from "./ipc";

export interface ApiState {
  cpu: NodeJS.CpuUsage;
  memory: NodeJS.MemoryUsage;
  totals: Record<string, number>;
  breaker: string | null;
}

const api = await startLocalApi({ port: 0 });
// the module the handlers import: the same Core, one per process like one Lambda instance
const { core } = await import("../../../packages/functions/src/root");
const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// a normal exit on SIGTERM, so that exit hooks run (--cpu-prof writes its profile there)
process.on("SIGTERM", () => process.exit(0));

serveIpc(
  {
    state: (): ApiState => ({
      cpu: process.cpuUsage(),
      memory: process.memoryUsage(),
      totals: { ...core.metrics.totals() },
      breaker: core.breaker?.state ?? null,
    }),
    /** The heap after full collections, once in-flight timers (Redis timeouts, 150 ms) have fired. */
    settledMemory: async (): Promise<NodeJS.MemoryUsage> => {
      if (!gc) throw new Error("start the API child with --expose-gc");
      await sleep(500);
      for (let i = 0; i < 4; i++) {
        gc();
        await sleep(25);
      }
      return process.memoryUsage();
    },
  },
  { url: api.url },
);
