import { createCore, loadConfig } from "@candor/core";

/**
 * In a deployed stage, SST binds parameters and secrets to the function as `SST_*` variables and
 * fetches the secrets from SSM once, at cold start (`sst/node/config`); their names are the same as
 * the environment variables of README's configuration table. Locally nothing is bound.
 */
async function resolveEnvironment(env: NodeJS.ProcessEnv): Promise<Record<string, string | undefined>> {
  if (!env.SST_APP) return env;
  const { Config } = await import("sst/node/config");
  return { ...env, ...(Config as unknown as Record<string, string | undefined>) };
}

/**
 * The composition root of every Lambda bundle, at module scope: the environment is parsed and every
 * client and adapter built once per cold start. A missing required variable fails the cold start
 * with an error naming it.
 */
export const core = createCore(loadConfig(await resolveEnvironment(process.env)), {
  serviceName: "candor-api",
});
