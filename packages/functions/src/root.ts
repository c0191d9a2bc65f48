import { createCore, loadConfig } from "@candor/core";

/**
 * The composition root of every Lambda bundle, at module scope: the environment is parsed and every
 * client and adapter built once per cold start. A missing required variable fails the cold start
 * with an error naming it.
 */
export const core = createCore(loadConfig(process.env), { serviceName: "candor-api" });
