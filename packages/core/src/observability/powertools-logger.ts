import { Logger } from "@aws-lambda-powertools/logger";
import type { Log, LogAttributes } from "../domain/ports/logger.port";

export interface CreateLoggerOptions {
  serviceName: string;
  stage: string;
  level: "DEBUG" | "INFO" | "WARN" | "ERROR" | "SILENT";
}

export interface CandorLogger extends Log {
  /** The Powertools logger, for per-invocation context (request id, cold start). */
  readonly powertools: Logger;
  appendKeys(keys: LogAttributes): void;
  resetKeys(): void;
  /** The keys appended for the current invocation (request id, tenant id, route): also span attributes. */
  keys(): Readonly<LogAttributes>;
}

/** JSON logs through Powertools: service, stage, request and tenant ids; never secrets or prompts. */
export function createLogger(options: CreateLoggerOptions): CandorLogger {
  const logger = new Logger({
    serviceName: options.serviceName,
    logLevel: options.level,
    persistentKeys: { stage: options.stage },
  });
  // this invocation's keys; reset at its end, so it holds a handful of entries at most
  let current: LogAttributes = {};
  return {
    powertools: logger,
    debug: (m, a) => (a ? logger.debug(m, a) : logger.debug(m)),
    info: (m, a) => (a ? logger.info(m, a) : logger.info(m)),
    warn: (m, a) => (a ? logger.warn(m, a) : logger.warn(m)),
    error: (m, a) => (a ? logger.error(m, a) : logger.error(m)),
    appendKeys(k) {
      current = { ...current, ...k };
      logger.appendKeys(k);
    },
    resetKeys() {
      const names = Object.keys(current);
      if (names.length) logger.removeKeys(names);
      current = {};
    },
    keys: () => current,
  };
}
