/**
 * Deploy-time configuration of the stacks, read from the deployer's environment when SST synthesizes
 * them (`npx sst deploy` also loads `.env` and `.env.<stage>` from the repository root).
 *
 * Only non-secret values live here. Secrets are SST `Config.Secret` values, set per stage with
 * `npx sst secrets set <NAME> <value> --stage <stage>`, stored in SSM as SecureString and read by the
 * function at cold start: they never appear in the CloudFormation template nor in a function's
 * environment (ARCHITECTURE.md, "Deployed").
 */

/** The `Config.Secret` names bound to the API functions. Never read from the deploy environment. */
export const SECRET_NAMES = [
  "SUPABASE_SERVICE_ROLE_KEY",
  "UPSTASH_REDIS_REST_TOKEN",
  "ANTHROPIC_API_KEY",
  "OPENAI_API_KEY",
  "STREAM_TOKEN_SECRET",
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/**
 * Non-secret settings copied into the functions' environment when the deployer sets them; unset ones
 * take the defaults stated in packages/core/src/config/config.ts. A secret must never be added here.
 */
export const PASSTHROUGH_SETTINGS = [
  "LOG_LEVEL",
  "ANTHROPIC_BASE_URL",
  "OPENAI_BASE_URL",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "REALTIME_URL",
  "ENABLE_RATE_LIMITER_REDIS",
  "ENABLE_AUTH_VALIDATION_CACHE",
  "ENABLE_CONVERSATION_CACHING",
  "SUPABASE_TIMEOUT_MS",
  "REDIS_TIMEOUT_MS",
  "PROVIDER_TIMEOUT_MS",
  "MAX_BODY_BYTES",
] as const;

export interface DeployConfig {
  /** `Config.Parameter` SUPABASE_URL: required, no default, ever. */
  supabaseUrl: string;
  /**
   * `Config.Parameter` UPSTASH_REDIS_REST_URL, or undefined when Redis is not configured for the stage:
   * then neither the URL nor the token is bound and the functions choose the NoOp adapters.
   */
  upstashRedisRestUrl: string | undefined;
  /** The PASSTHROUGH_SETTINGS the deployer set. */
  settings: Record<string, string>;
}

export class DeployConfigError extends Error {
  override name = "DeployConfigError";
  constructor(
    message: string,
    readonly variables: readonly string[],
  ) {
    super(message);
  }
}

const HINT = "Export it, or put it in .env.<stage> at the repository root, before `npx sst deploy`.";

const present = (v: string | undefined): string | undefined => {
  const t = v?.trim();
  return t ? t : undefined;
};

function url(name: string, value: string): string {
  try {
    new URL(value);
  } catch {
    throw new DeployConfigError(`${name} is not a valid URL. ${HINT}`, [name]);
  }
  return value;
}

/** Fails fast, naming the missing variable: a stage never deploys against a guessed endpoint. */
export function readDeployConfig(env: Record<string, string | undefined>): DeployConfig {
  const supabaseUrl = present(env.SUPABASE_URL);
  if (!supabaseUrl) {
    throw new DeployConfigError(
      `SUPABASE_URL is not set: Supabase is the system of record and has no default. ${HINT}`,
      ["SUPABASE_URL"],
    );
  }
  const upstash = present(env.UPSTASH_REDIS_REST_URL);
  const settings: Record<string, string> = {};
  for (const name of PASSTHROUGH_SETTINGS) {
    const value = present(env[name]);
    if (value !== undefined) settings[name] = value;
  }
  return {
    supabaseUrl: url("SUPABASE_URL", supabaseUrl),
    upstashRedisRestUrl: upstash === undefined ? undefined : url("UPSTASH_REDIS_REST_URL", upstash),
    settings,
  };
}
