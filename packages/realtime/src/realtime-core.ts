import type { Core } from "@candor/core";

/** What this service uses of core's composition root: auth, the rate limiter, turns, health, logs, metrics. */
export type RealtimeCore = Pick<
  Core,
  "authenticate" | "rateLimiter" | "health" | "log" | "metrics" | "config" | "turns"
>;
