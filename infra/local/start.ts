/**
 * `npm start`: the offline stack in one command. Ctrl-C stops everything.
 * Configuration: see README.md, "Running locally".
 */
import { z } from "zod";
import { startLocalStack } from "./stack";

const LocalEnv = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  SUPABASE_PORT: z.coerce.number().int().min(0).max(65535).default(54321),
  UPSTASH_PORT: z.coerce.number().int().min(0).max(65535).default(8079),
  FAKE_PROVIDER_PORT: z.coerce.number().int().min(0).max(65535).default(8089),
  /** Unset: the API port + 1. */
  REALTIME_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  DATABASE_URL: z.url().optional(),
  REDIS_URL: z.url().optional(),
  CANDOR_STATE_DIR: z.string().min(1).default(".candor"),
  /** Keys of the local stack in a shared Redis stay apart from a deployed stage's. */
  REDIS_KEY_PREFIX: z.string().trim().min(1).max(100).default("candor:local:"),
});

async function main() {
  const parsed = LocalEnv.safeParse(process.env);
  if (!parsed.success) {
    console.error(
      `Invalid local configuration: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; ")}`,
    );
    process.exit(2);
  }
  const env = parsed.data;
  console.log("Candor local stack starting…");
  const stack = await startLocalStack({
    stateDir: env.CANDOR_STATE_DIR,
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    ...(env.REDIS_URL ? { redisUrl: env.REDIS_URL } : {}),
    apiPort: env.PORT,
    supabasePort: env.SUPABASE_PORT,
    upstashPort: env.UPSTASH_PORT,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    fakeProviderPort: env.FAKE_PROVIDER_PORT,
    ...(env.REALTIME_PORT !== undefined ? { realtimePort: env.REALTIME_PORT } : {}),
  });
  console.log(`Candor is up: curl ${stack.info.api_url}/health`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    const timer = setTimeout(() => process.exit(1), 10_000);
    await stack.stop();
    clearTimeout(timer);
    console.log("stopped cleanly.");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
