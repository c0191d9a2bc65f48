import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import {
  API_KEY_SCOPES,
  type ApiKeyScope,
  CandorError,
  ConfigError,
  type Core,
  createCore,
  loadConfig,
  type PricingFile,
  parsePricingFile,
} from "@candor/core";

const USAGE = `candor — Candor admin CLI (service role, through SUPABASE_URL)

  candor tenant create --name <name> [--scopes a,b]       create a tenant and its first API key (shown once)
  candor key create --tenant <id> [--name n] [--scopes a,b]  create an API key (shown once)
  candor key revoke --tenant <id> --key <key id>          revoke a key (and drop its auth cache entry)
  candor key list --tenant <id>                           list keys (prefixes, never the keys)
  candor key limit --tenant <id> --key <key id> --rpm <n|none>  a key's own requests-per-minute limit
  candor policy set --tenant <id> --file <policy.json>    set the tenant policy
  candor pricing load <pricing.json>                      load reference prices (effective from their date)
  candor pricing set --provider p --model m --input usd --output usd [--cached usd]
                     [--effective-from iso] [--context-window n]

Configuration: SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (and UPSTASH_REDIS_REST_URL/_TOKEN for
revocation to clear the auth cache at once). Without SUPABASE_URL, the local stack's .candor/admin.json
is used when it exists. Scopes: ${API_KEY_SCOPES.join(", ")}.`;

const DECIMAL = /^\d+(\.\d+)?$/;

interface Out {
  log(text: string): void;
  err(text: string): void;
}

function parseScopes(raw: string | undefined): ApiKeyScope[] {
  if (!raw) return [...API_KEY_SCOPES];
  const scopes = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = scopes.find((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
  if (bad) throw new UsageError(`unknown scope: ${bad}`);
  return scopes as ApiKeyScope[];
}

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v.trim() === "") throw new UsageError(`--${name} is required`);
  return v;
}

async function environment(env: NodeJS.ProcessEnv): Promise<Record<string, string | undefined>> {
  if (env.SUPABASE_URL) return env;
  const dir = env.CANDOR_STATE_DIR ?? ".candor";
  try {
    const local = JSON.parse(await readFile(`${dir}/admin.json`, "utf8")) as Record<string, string>;
    return { ...env, ...local };
  } catch {
    return env; // loadConfig names what is missing
  }
}

async function run(argv: string[], core: () => Promise<Core>, out: Out): Promise<void> {
  const [noun, verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: "string" },
      scopes: { type: "string" },
      tenant: { type: "string" },
      key: { type: "string" },
      file: { type: "string" },
      provider: { type: "string" },
      model: { type: "string" },
      input: { type: "string" },
      output: { type: "string" },
      cached: { type: "string" },
      "effective-from": { type: "string" },
      "context-window": { type: "string" },
      rpm: { type: "string" },
    },
  });
  const print = (v: unknown) => out.log(JSON.stringify(v, null, 2));

  switch (`${noun} ${verb}`) {
    case "tenant create": {
      const c = await core();
      const tenant = await c.admin.createTenant(need(values, "name"));
      const key = await c.admin.createApiKey(tenant.id, parseScopes(values.scopes), "default");
      print({ tenant, api_key: { id: key.id, prefix: key.prefix, scopes: key.scopes, key: key.key } });
      out.err("The API key is shown once: store it now.");
      return;
    }
    case "key create": {
      const c = await core();
      const key = await c.admin.createApiKey(
        need(values, "tenant"),
        parseScopes(values.scopes),
        values.name ?? "default",
      );
      print(key);
      out.err("The API key is shown once: store it now.");
      return;
    }
    case "key revoke": {
      const c = await core();
      print(await c.revokeApiKey(need(values, "tenant"), need(values, "key")));
      return;
    }
    case "key list": {
      const c = await core();
      print(await c.admin.listApiKeys(need(values, "tenant")));
      return;
    }
    case "key limit": {
      const raw = need(values, "rpm");
      const rpm = raw === "none" ? null : Number(raw);
      if (rpm !== null && (!Number.isInteger(rpm) || rpm <= 0))
        throw new UsageError("--rpm must be a positive integer or none");
      const c = await core();
      print(await c.setApiKeyLimit(need(values, "tenant"), need(values, "key"), rpm));
      return;
    }
    case "policy set": {
      const file = need(values, "file");
      let policy: unknown;
      try {
        policy = JSON.parse(await readFile(file, "utf8"));
      } catch (e) {
        throw new UsageError(`cannot read ${file} as JSON: ${(e as Error).message}`);
      }
      if (!policy || typeof policy !== "object" || Array.isArray(policy))
        throw new UsageError("a policy is a JSON object");
      const c = await core();
      print(await c.rpc.call("set_tenant_policy", { p_tenant_id: need(values, "tenant"), p_policy: policy }));
      return;
    }
    case "pricing load": {
      const file = positionals[0] ?? values.file;
      if (!file) throw new UsageError("pricing load needs a file");
      let doc: PricingFile;
      try {
        doc = parsePricingFile(JSON.parse(await readFile(file, "utf8")), file);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const c = await core();
      print({ loaded: await c.admin.loadPricing(doc), as_of: doc.as_of });
      return;
    }
    case "pricing set": {
      for (const f of ["input", "output", ...(values.cached ? ["cached"] : [])]) {
        if (!DECIMAL.test(need(values, f)))
          throw new UsageError(`--${f} must be a decimal number of USD per million tokens`);
      }
      const window = values["context-window"];
      const c = await core();
      print(
        await c.rpc.call("set_model_price", {
          p_provider: need(values, "provider"),
          p_model: need(values, "model"),
          p_input_usd_per_mtok: values.input,
          p_output_usd_per_mtok: values.output,
          p_cached_input_usd_per_mtok: values.cached ?? null,
          p_effective_from: values["effective-from"]
            ? new Date(values["effective-from"]).toISOString()
            : null,
          p_context_window_tokens: window ? Number.parseInt(window, 10) : null,
        }),
      );
      return;
    }
    default:
      throw new UsageError(argv.length ? `unknown command: ${argv.slice(0, 2).join(" ")}` : "no command");
  }
}

/** Exit codes: 0 ok, 1 refused by the store or unavailable, 2 usage or configuration. */
export async function main(
  argv: string[],
  out: Out = { log: console.log, err: console.error },
): Promise<number> {
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h") {
    out.log(USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  let built: Core | undefined;
  const core = async () => {
    if (!built) {
      // the CLI's stdout is its JSON output: no EMF metric lines there
      process.env.POWERTOOLS_METRICS_DISABLED = "true";
      const env = await environment(process.env);
      built = createCore(loadConfig({ ...env, LOG_LEVEL: "SILENT" }), {
        serviceName: "candor-cli",
      });
    }
    return built;
  };
  try {
    await run(argv, core, out);
    return 0;
  } catch (error) {
    if (
      error instanceof UsageError ||
      (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION"
    ) {
      out.err(`candor: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (error instanceof ConfigError) {
      out.err(`candor: ${error.message}`);
      return 2;
    }
    if (error instanceof CandorError) {
      out.err(`candor: ${error.code}: ${error.message}`);
      return 1;
    }
    out.err(`candor: ${(error as Error).message ?? String(error)}`);
    return 1;
  }
}
