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
}

/** JSON logs through Powertools: service, stage, request and tenant ids; never secrets or prompts. */
export function createLogger(options: CreateLoggerOptions): CandorLogger {
  const logger = new Logger({
    serviceName: options.serviceName,
    logLevel: options.level,
    persistentKeys: { stage: options.stage },
  });
  let keys: string[] = [];
  return {
    powertools: logger,
    debug: (m, a) => (a ? logger.debug(m, a) : logger.debug(m)),
    info: (m, a) => (a ? logger.info(m, a) : logger.info(m)),
    warn: (m, a) => (a ? logger.warn(m, a) : logger.warn(m)),
    error: (m, a) => (a ? logger.error(m, a) : logger.error(m)),
    appendKeys(k) {
      keys = [...keys, ...Object.keys(k)];
      logger.appendKeys(k);
    },
    resetKeys() {
      if (keys.length) logger.removeKeys(keys);
      keys = [];
    },
  };
}
