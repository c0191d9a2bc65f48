import type { HealthStore } from "../ports/store.port";

export type RedisHealth = "upstash" | "noop" | "down";

export interface Health {
  status: "ok" | "degraded" | "down";
  dependencies: {
    supabase: "up" | "down";
    redis: RedisHealth;
    otel: "exporting" | "off" | "failing";
    e2b: "available" | "unavailable";
  };
  version: string;
}

export interface GetHealthDeps {
  store: HealthStore;
  redis: () => Promise<RedisHealth>;
  otel: () => "exporting" | "off" | "failing";
  e2b: () => "available" | "unavailable";
  version: string;
}

/**
 * The store decides up or down (it is required); an optional dependency that is failing makes the
 * service degraded, never down. A NoOp adapter chosen by configuration is not a failure.
 */
export async function getHealth(deps: GetHealthDeps): Promise<Health> {
  const [supabase, redis] = await Promise.all([
    deps.store.ping().then(
      () => "up" as const,
      () => "down" as const,
    ),
    deps.redis(),
  ]);
  const otel = deps.otel();
  const status = supabase === "down" ? "down" : redis === "down" || otel === "failing" ? "degraded" : "ok";
  return { status, dependencies: { supabase, redis, otel, e2b: deps.e2b() }, version: deps.version };
}
