import { Config, Api as HttpApi, Function as LambdaFunction, type StackContext } from "sst/constructs";
import { readDeployConfig, SECRET_NAMES, type SecretName } from "./deploy-config";
import { FUNCTION_GROUPS, type FunctionGroupName, ROUTES, routeKey } from "./routes";

const GROUPS = Object.keys(FUNCTION_GROUPS) as FunctionGroupName[];

const pascal = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The public HTTP API (API Gateway HTTP API, payload format 2.0), built from the one route table
 * `stacks/routes.ts`: one Lambda per function group, shared by every route of the group; the handler
 * dispatches on `event.routeKey`.
 */
export function Api({ stack, app }: StackContext) {
  const deploy = readDeployConfig(process.env);

  // Values set per stage with `npx sst secrets set`; a bound function receives only a placeholder
  // env var (SST_Secret_value_<NAME>=__FETCH_FROM_SSM__) and reads the value from SSM at cold start.
  const secrets = Object.fromEntries(
    SECRET_NAMES.map((name) => [name, new Config.Secret(stack, name)]),
  ) as Record<SecretName, Config.Secret>;
  const parameters = {
    SUPABASE_URL: new Config.Parameter(stack, "SUPABASE_URL", { value: deploy.supabaseUrl }),
    ...(deploy.upstashRedisRestUrl === undefined
      ? {}
      : {
          UPSTASH_REDIS_REST_URL: new Config.Parameter(stack, "UPSTASH_REDIS_REST_URL", {
            value: deploy.upstashRedisRestUrl,
          }),
        }),
  };
  // Redis is optional: without a URL for the stage neither half is bound, so a missing token cannot
  // fail the cold start, and the functions choose the NoOp adapters (ARCHITECTURE.md).
  const bind = [
    secrets.SUPABASE_SERVICE_ROLE_KEY,
    secrets.ANTHROPIC_API_KEY,
    secrets.OPENAI_API_KEY,
    secrets.STREAM_TOKEN_SECRET,
    ...(parameters.UPSTASH_REDIS_REST_URL
      ? [parameters.UPSTASH_REDIS_REST_URL, secrets.UPSTASH_REDIS_REST_TOKEN]
      : []),
    parameters.SUPABASE_URL,
  ];

  const functions = {} as Record<FunctionGroupName, LambdaFunction>;
  for (const group of GROUPS) {
    const def = FUNCTION_GROUPS[group];
    functions[group] = new LambdaFunction(stack, `${pascal(group)}Function`, {
      description: `Candor API: ${group} routes`,
      handler: def.handler,
      memorySize: def.memoryMB,
      timeout: def.timeoutSeconds,
      environment: {
        ...deploy.settings,
        POWERTOOLS_SERVICE_NAME: "candor-api",
        POWERTOOLS_METRICS_NAMESPACE: "Candor",
        // stages sharing one Upstash database never read each other's keys
        REDIS_KEY_PREFIX: `candor:${app.stage}:`,
      },
      bind,
    });
  }

  const routes: Record<string, { function: LambdaFunction }> = {};
  for (const route of ROUTES) {
    const key = routeKey(route);
    if (routes[key]) throw new Error(`stacks/routes.ts: route "${key}" is declared twice`);
    routes[key] = { function: functions[route.group] };
  }

  const api = new HttpApi(stack, "Api", {
    // Bearer API keys, no cookies: any origin may call, credentials are never allowed.
    cors: {
      allowOrigins: ["*"],
      allowMethods: ["ANY"],
      allowHeaders: ["authorization", "content-type", "idempotency-key"],
      exposeHeaders: [
        "x-request-id",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "x-ratelimit-mode",
        "retry-after",
      ],
      allowCredentials: false,
      maxAge: "1 day",
    },
    accessLog: { retention: "one_month" },
    routes,
  });

  stack.addOutputs({ ApiUrl: api.url });

  return { api, functions, secrets, parameters };
}
