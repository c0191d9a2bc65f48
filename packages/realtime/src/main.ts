/**
 * The realtime service's process (the container's entry point): one composition root, built once.
 * Configuration: the variables of @candor/core's loadConfig plus the realtime ones (config.ts);
 * DATABASE_URL is required here (a direct connection: LISTEN needs a session).
 */
import { ConfigError, createCore, loadConfig } from "@candor/core";
import { loadSandboxProvider, startPostgresRealtime } from "./compose";
import { loadRealtimeConfig } from "./config";

/** Deployed, SST binds secrets as placeholders and `sst/node/config` reads them from SSM (as root.ts does). */
async function resolveEnvironment(env: NodeJS.ProcessEnv): Promise<Record<string, string | undefined>> {
  if (!env.SST_APP) return env;
  const { Config } = await import("sst/node/config");
  return { ...env, ...(Config as unknown as Record<string, string | undefined>) };
}

async function main() {
  const env = await resolveEnvironment(process.env);
  const config = loadRealtimeConfig(env);
  if (!config.databaseUrl) {
    throw new ConfigError(
      "Missing required configuration: DATABASE_URL (a direct Postgres connection for LISTEN). See README.md, section Configuration.",
      ["DATABASE_URL"],
    );
  }
  const core = createCore(loadConfig(env), { serviceName: "candor-realtime" });
  const sandboxes = await loadSandboxProvider(core.config.e2bApiKey, core.log);
  const service = await startPostgresRealtime({ core, config, databaseUrl: config.databaseUrl, sandboxes });
  core.log.info("realtime service listening", {
    url: service.url,
    e2b: sandboxes ? "available" : "unavailable",
    listen_application_name: service.listenApplicationName,
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    core.log.info("stopping", { signal });
    // the orchestrator's grace period is longer; this process is gone within 10 s regardless
    const hard = setTimeout(() => process.exit(1), config.shutdownTimeoutMs + 1_000);
    hard.unref();
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  // a configuration error names the variable; anything else is a failed start (the orchestrator retries)
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
