/**
 * The fake model server as its own process:
 *   npx tsx infra/local/fake-provider/main.ts [--port 8089] [--host 127.0.0.1] [--behavior '{"latencyMs":50}']
 * Environment: FAKE_PROVIDER_PORT (default 8089), FAKE_PROVIDER_HOST (default 127.0.0.1),
 * FAKE_PROVIDER_BEHAVIOR (JSON switches, see behavior.ts), FAKE_PROVIDER_API_KEY (accept only this
 * key; default: any non-empty key). Flags win over the environment. Switches can be changed while it
 * runs: `curl -X PUT localhost:8089/_fake/behavior -d '{"status":429}'`.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { type FakeBehavior, parseBehaviorJson, startFakeProvider } from "./index";

/** The standalone runner's settings, with their stated defaults (flags win over these). */
const Env = z.object({
  FAKE_PROVIDER_PORT: z.coerce.number().int().min(0).max(65535).default(8089),
  FAKE_PROVIDER_HOST: z.string().min(1).default("127.0.0.1"),
  FAKE_PROVIDER_BEHAVIOR: z.string().optional(),
  FAKE_PROVIDER_API_KEY: z.string().min(1).optional(),
});

async function main() {
  const { values } = parseArgs({
    options: { port: { type: "string" }, host: { type: "string" }, behavior: { type: "string" } },
  });
  const env = Env.safeParse({
    ...process.env,
    ...(values.port !== undefined ? { FAKE_PROVIDER_PORT: values.port } : {}),
  });
  if (!env.success) {
    throw new Error(
      `FAKE_PROVIDER_PORT / --port and the rest: ${env.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  const port = env.data.FAKE_PROVIDER_PORT;
  const behaviorText = values.behavior ?? env.data.FAKE_PROVIDER_BEHAVIOR;
  const behavior: Partial<FakeBehavior> = behaviorText
    ? parseBehaviorJson(behaviorText, "FAKE_PROVIDER_BEHAVIOR / --behavior")
    : {};
  const apiKey = env.data.FAKE_PROVIDER_API_KEY;
  const fake = await startFakeProvider({
    port,
    host: values.host ?? env.data.FAKE_PROVIDER_HOST,
    behavior,
    ...(apiKey ? { apiKey } : {}),
  });
  console.log(`fake provider listening on ${fake.url}`);
  console.log(`  Anthropic baseURL: ${fake.anthropicBaseUrl}   OpenAI baseURL: ${fake.openaiBaseUrl}`);

  const stop = (signal: string) => {
    console.log(`${signal}: stopping (${fake.requests} model requests served)`);
    void fake.close().then(() => process.exit(0));
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
