import { inject } from "vitest";

/** True when the run's migrated Postgres database exists (see global-setup). */
export const hasPostgres = (): boolean => inject("databaseUrl") !== "";
/** True when Redis is reachable for this run. */
export const hasRedis = (): boolean => inject("redisUrl") !== "";
