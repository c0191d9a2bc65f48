/**
 * Every expected failure in Candor is a CandorError with a stable `code`. The mapping from codes to
 * HTTP statuses lives in one file (packages/functions/src/http/error-response.ts).
 * Error fields never carry secrets, keys, SQL or prompt text.
 */
export type ErrorCode =
  | "invalid_request"
  | "request_too_large"
  | "unauthenticated"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "turn_in_progress"
  | "budget_exceeded"
  | "rate_limited"
  | "provider_error"
  | "provider_timeout"
  | "store_unavailable"
  | "store_timeout"
  | "pricing_unavailable"
  | "code_execution_unavailable"
  | "configuration_error"
  | "capacity_exceeded"
  | "internal_error";

export interface CandorErrorOptions {
  cause?: unknown;
  /** The request field at fault, for invalid_request. */
  param?: string | null;
  /** Seconds a client should wait before retrying (429, 409 in progress, 503). */
  retryAfterSeconds?: number;
  /** Extra, safe, structured detail for the client. */
  details?: Record<string, unknown>;
}

export class CandorError extends Error {
  override readonly name: string = "CandorError";
  readonly code: ErrorCode;
  readonly param: string | null;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CandorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.param = options.param ?? null;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
  }
}

/** A required dependency (the store) could not be reached or failed: fail closed. */
export class DependencyUnavailableError extends CandorError {
  override readonly name = "DependencyUnavailableError";
  readonly dependency: string;
  constructor(dependency: string, message: string, options: CandorErrorOptions = {}) {
    super("store_unavailable", message, { retryAfterSeconds: 5, ...options });
    this.dependency = dependency;
  }
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly variables: string[];
  constructor(message: string, variables: string[]) {
    super(message);
    this.variables = variables;
  }
}

export const isCandorError = (e: unknown): e is CandorError => e instanceof CandorError;
