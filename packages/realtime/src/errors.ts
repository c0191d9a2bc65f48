import { CandorError, type CandorErrorOptions } from "@candor/core";

/**
 * The realtime service's expected failures are CandorErrors (one base, one code list in core);
 * the few that have no core code carry a `code` of their own here and map through the same file
 * (http/error-response.ts). Fields never carry secrets.
 */
export type RealtimeErrorCode = "capacity_exceeded";

export class RealtimeError extends Error {
  override readonly name = "RealtimeError";
  readonly code: RealtimeErrorCode;
  readonly retryAfterSeconds: number | undefined;
  constructor(
    code: RealtimeErrorCode,
    message: string,
    options: Pick<CandorErrorOptions, "retryAfterSeconds" | "cause"> = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A sandbox call that ran past its deadline: the code's outcome, reported in `error`. */
export class SandboxTimeoutError extends Error {
  override readonly name = "SandboxTimeoutError";
}

export const codeExecutionUnavailable = (message: string, cause?: unknown): CandorError =>
  new CandorError("code_execution_unavailable", message, {
    retryAfterSeconds: 30,
    ...(cause ? { cause } : {}),
  });
