import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  API_KEY_SCOPES,
  createCore,
  hashApiKey,
  loadConfig,
  type PricingFile,
  parsePricingFile,
  SupabaseAdmin,
} from "@candor/core";
import {
  loadRealtimeConfig,
  loadSandboxProvider,
  type RealtimeService,
  startEmbeddedRealtime,
  startPostgresRealtime,
} from "@candor/realtime";
import { type LocalApi, startLocalApi } from "./api-gateway";
import { migrate } from "./db/migrate";
import { createPGliteDatabase } from "./db/pglite-database";
import { createPostgresDatabase } from "./db/postgres-database";
import type { SqlDatabase } from "./db/sql-database";
import { FAKE_MODEL, type FakeProvider, startFakeProvider } from "./fake-provider";
import { startLocalSupabase } from "./supabase";
import { startLocalUpstash } from "./upstash";

export interface LocalStackOptions {
  /** Folder for local state (PGlite data, secrets, local.json). */
  stateDir: string;
  /** A real Postgres; without it, embedded PGlite persisted under stateDir. */
  databaseUrl?: string;
  /** A real Redis for the local Upstash endpoint; without it, NoOp limiter and caches. */
  redisUrl?: string;
  apiPort: number;
  supabasePort: number;
  upstashPort: number;
  /** The realtime service (SSE, code execution); default: the port after apiPort (any free port when apiPort is 0). */
  realtimePort?: number;
  /** Port of the fake model server (0: any free port). */
  fakeProviderPort?: number;
  host?: string;
  /** Prefix of every Redis key the stack writes (start.ts states the default). */
  redisKeyPrefix: string;
  log?: (line: string) => void;
}

export interface LocalStackInfo {
  api_url: string;
  realtime_url: string | null;
  supabase_url: string;
  demo_api_key: string;
  demo_tenant_id: string;
}

export interface LocalStack {
  info: LocalStackInfo;
  database: SqlDatabase;
  upstashUrl: string | undefined;
  fakeProvider: FakeProvider;
  stop(): Promise<void>;
}

interface LocalSecrets {
  jwt_secret: string;
  upstash_token: string;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/**
 * The whole system on one machine: Postgres (real or embedded), migrations, the local Supabase
 * and Upstash endpoints, a demo tenant, and the Lambda handlers behind the API Gateway adapter.
 * The handlers read the same environment variables as in a deployed stage; this sets them.
 */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const log = o.log ?? ((line: string) => console.log(line));
  const host = o.host ?? "127.0.0.1";
  const stateDir = resolve(o.stateDir);
  await mkdir(stateDir, { recursive: true });

  const secretsPath = join(stateDir, "secrets.json");
  const secrets: LocalSecrets = (await readJson<LocalSecrets>(secretsPath)) ?? {
    jwt_secret: randomBytes(32).toString("hex"),
    upstash_token: randomBytes(24).toString("hex"),
  };
  await writeFile(secretsPath, JSON.stringify(secrets, null, 2), { mode: 0o600 });

  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch(() => {});
  };
  try {
    let admin: SqlDatabase;
    let endpointDb: SqlDatabase;
    if (o.databaseUrl) {
      admin = createPostgresDatabase({ url: o.databaseUrl, max: 2 });
      stops.push(() => admin.close());
      await migrate(admin);
      endpointDb = createPostgresDatabase({ url: o.databaseUrl, user: "authenticator", max: 10 });
      stops.push(() => endpointDb.close());
      log(`database     PostgreSQL (DATABASE_URL)`);
    } else {
      const dataDir = join(stateDir, "pgdata");
      admin = await createPGliteDatabase({ dataDir });
      stops.push(() => admin.close());
      await migrate(admin);
      endpointDb = admin;
      log(`database     embedded PGlite (${dataDir})`);
    }

    const supabase = await startLocalSupabase({
      db: endpointDb,
      jwtSecret: secrets.jwt_secret,
      port: o.supabasePort,
      host,
    });
    stops.push(() => supabase.close());

    let upstashUrl: string | undefined;
    if (o.redisUrl) {
      const upstash = await startLocalUpstash({
        redisUrl: o.redisUrl,
        token: secrets.upstash_token,
        port: o.upstashPort,
        host,
      });
      stops.push(() => upstash.close());
      upstashUrl = upstash.url;
    }

    // The handlers' environment: exactly the variables of a deployed stage.
    process.env.CANDOR_STAGE = "local";
    process.env.SUPABASE_URL = supabase.url;
    process.env.SUPABASE_SERVICE_ROLE_KEY = supabase.serviceRoleKey;
    if (upstashUrl) {
      process.env.UPSTASH_REDIS_REST_URL = upstashUrl;
      process.env.UPSTASH_REDIS_REST_TOKEN = secrets.upstash_token;
      process.env.REDIS_KEY_PREFIX = o.redisKeyPrefix;
    } else {
      delete process.env.UPSTASH_REDIS_REST_URL;
      delete process.env.UPSTASH_REDIS_REST_TOKEN;
    }
    process.env.STREAM_TOKEN_SECRET ??= secrets.jwt_secret;

    const fakeProvider = await startFakeProvider({ port: o.fakeProviderPort ?? 0, host });
    stops.push(() => fakeProvider.close());

    const infoPath = join(stateDir, "local.json");
    const previous = await readJson<LocalStackInfo>(infoPath);
    const demo = await seedDemoTenant(previous, fakeProvider.openaiBaseUrl);
    // for `npx candor` against this stack (local secrets, never committed: .candor/ is ignored)
    await writeFile(
      join(stateDir, "admin.json"),
      JSON.stringify(
        { SUPABASE_URL: supabase.url, SUPABASE_SERVICE_ROLE_KEY: supabase.serviceRoleKey },
        null,
        2,
      ),
      { mode: 0o600 },
    );

    // The realtime service: in this process on PGlite (listening through PGlite), or on its own
    // direct connections with DATABASE_URL, as deployed.
    const realtime = await startLocalRealtime(o, admin, host);
    stops.push(() => realtime.stop());
    process.env.REALTIME_URL ??= realtime.url;

    const api: LocalApi = await startLocalApi({ port: o.apiPort, host });
    stops.push(() => api.close());

    const info: LocalStackInfo = {
      api_url: api.url,
      realtime_url: realtime.url,
      supabase_url: supabase.url,
      demo_api_key: demo.key,
      demo_tenant_id: demo.tenantId,
    };
    await writeFile(infoPath, JSON.stringify(info, null, 2), { mode: 0o600 });
    log(`supabase     ${supabase.url}  (local PostgREST endpoint)`);
    log(
      upstashUrl
        ? `upstash      ${upstashUrl}  (local Upstash REST endpoint over ${redactUrl(o.redisUrl ?? "")})`
        : "upstash      not configured: REDIS_URL is not set. Rate limiting is DISABLED (fail-open, NoOp) and caching is DISABLED (fail-through, NoOp).",
    );
    log(`models       ${fakeProvider.url}  (fake model server: ${FAKE_MODEL}, deterministic replies)`);
    log(
      `providers    anthropic: ${process.env.ANTHROPIC_API_KEY ? "configured" : "no key"}, openai: ${process.env.OPENAI_API_KEY ? "configured" : "no key"}`,
    );
    log(`api          ${api.url}`);
    log(
      `realtime     ${realtime.url}  (SSE graph events; code execution ${realtime.pool ? "on" : "off: E2B_API_KEY is not set"})`,
    );
    log(`demo tenant  ${demo.tenantId}`);
    log(`demo key     ${demo.key}`);
    log(`written      ${infoPath}`);
    return { info, database: admin, upstashUrl, fakeProvider, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startLocalRealtime(
  o: LocalStackOptions,
  database: SqlDatabase,
  host: string,
): Promise<RealtimeService> {
  const core = createCore(loadConfig(process.env), { serviceName: "candor-realtime" });
  const config = loadRealtimeConfig(process.env);
  const sandboxes = await loadSandboxProvider(core.config.e2bApiKey, core.log);
  const port = o.realtimePort ?? (o.apiPort === 0 ? 0 : o.apiPort + 1);
  if (o.databaseUrl) {
    return startPostgresRealtime({ core, config, databaseUrl: o.databaseUrl, sandboxes, host, port });
  }
  return startEmbeddedRealtime({ core, config, database, sandboxes, host, port });
}

const SEED_DIR = new URL("../supabase/seed/", import.meta.url);

/**
 * The demo tenant: its key is reused while it still authenticates. Its policy allows the fake
 * model (priced from seed/demo-pricing.json) and the real providers whose keys are set (priced from
 * the reference seed/pricing.json). Prices are loaded into the database: the request path reads them
 * there, as in a deployed stage.
 */
async function seedDemoTenant(
  previous: LocalStackInfo | undefined,
  fakeBaseUrl: string,
): Promise<{ key: string; tenantId: string }> {
  const core = createCore(loadConfig({ ...process.env, LOG_LEVEL: "ERROR" }), {
    serviceName: "candor-local",
  });
  const admin = new SupabaseAdmin(core.rpc);
  const prices: PricingFile["prices"] = [];
  for (const file of ["demo-pricing.json", "pricing.json"]) {
    const doc = parsePricingFile(JSON.parse(await readFile(new URL(file, SEED_DIR), "utf8")), file);
    await admin.loadPricing(doc);
    prices.push(...doc.prices);
  }

  let tenantId: string | undefined;
  let key: string | undefined;
  if (previous?.demo_api_key) {
    const found = await core.stores.auth.findActiveKey(hashApiKey(previous.demo_api_key));
    if (found) {
      tenantId = found.tenantId;
      key = previous.demo_api_key;
    }
  }
  if (!tenantId || !key) {
    const tenant = await admin.createTenant("Demo tenant");
    key = (await admin.createApiKey(tenant.id, API_KEY_SCOPES, "demo")).key;
    tenantId = tenant.id;
  }
  const providers = [
    "openai-compatible",
    ...(process.env.ANTHROPIC_API_KEY ? ["anthropic"] : []),
    ...(process.env.OPENAI_API_KEY ? ["openai"] : []),
  ];
  await core.rpc.call("set_tenant_policy", {
    p_tenant_id: tenantId,
    p_policy: {
      allowed_providers: providers,
      allowed_models: [...new Set(prices.filter((p) => providers.includes(p.provider)).map((p) => p.model))],
      default_model: FAKE_MODEL,
      provider_endpoints: { "openai-compatible": { base_url: fakeBaseUrl } },
      requests_per_minute: 600,
      tokens_per_minute: 1_000_000,
      monthly_budget_usd: "100",
      max_output_tokens: 1024,
    },
  });
  return { key, tenantId };
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "redis";
  }
}
