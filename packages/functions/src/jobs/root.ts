import { createCore, loadConfig } from "@candor/core";
import { anomalySettings } from "./settings";

/** As in ../root.ts: SST binds parameters and secrets as `SST_*` variables, read from SSM at cold start. */
async function resolveEnvironment(env: NodeJS.ProcessEnv): Promise<Record<string, string | undefined>> {
  if (!env.SST_APP) return env;
  const { Config } = await import("sst/node/config");
  return { ...env, ...(Config as unknown as Record<string, string | undefined>) };
}

const env = await resolveEnvironment(process.env);

/**
 * The jobs' composition root, once per cold start: the same core as the API (Supabase required, the
 * service name `candor-jobs` on every log line and metric).
 */
export const core = createCore(loadConfig(env), { serviceName: "candor-jobs" });

/** The scan's tuning, from the environment (defaults in DEFAULT_COST_ANOMALY_SETTINGS). */
export const settings = anomalySettings(env);
