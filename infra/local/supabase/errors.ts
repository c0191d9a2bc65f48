/**
 * PostgREST's error surface: every error body is `{code, details, hint, message}`, and the HTTP status
 * comes from the PGRST code or the SQLSTATE (PostgREST Error.hs `pgErrorStatus`, v12–v14).
 */
export interface PgrstErrorBody {
  code: string;
  details: string | null;
  hint: string | null;
  message: string;
}

/** An error the endpoint answers with; `status`, `headers` and `body` are exactly what goes on the wire. */
export class PgrstError extends Error {
  override readonly name = "PgrstError";
  readonly status: number;
  readonly body: PgrstErrorBody;
  readonly headers: Record<string, string>;
  readonly statusText: string | undefined;

  constructor(
    status: number,
    body: { code: string; message: string; details?: string | null; hint?: string | null },
    options: { headers?: Record<string, string>; statusText?: string; cause?: unknown } = {},
  ) {
    super(body.message, { cause: options.cause });
    this.status = status;
    this.body = {
      code: body.code,
      details: body.details ?? null,
      hint: body.hint ?? null,
      message: body.message,
    };
    this.headers = options.headers ?? {};
    this.statusText = options.statusText;
  }
}

/** A Kong (gateway) error: Supabase's gateway answers `{message}` only. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  hint?: unknown;
}

// Node socket errors and postgres.js connection errors: the database is not there, which PostgREST
// reports as 503 (fail closed: never an empty result, never a hang).
// (constant code lists below, fixed at a few entries each: vocabulary, not state)
const CONNECTION_FAILURES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
]);

// SQLSTATEs that only arise while opening a connection here (the database is gone, the password is
// refused, the server is starting or shutting down): PostgREST reports these as 503, not as 4xx.
const CONNECT_TIME_SQLSTATES = new Set(["3D000", "28P01", "57P03"]);

export function isConnectionFailure(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  const code = (error as DriverError).code;
  if (typeof code === "string" && (CONNECTION_FAILURES.has(code) || CONNECT_TIME_SQLSTATES.has(code)))
    return true;
  // PGlite after close() or a crashed WASM instance
  const message = (error as DriverError).message;
  return typeof message === "string" && /PGlite is closed/i.test(message);
}

// The server ended this session (admin shutdown, crash, idle or transaction timeout), or the
// socket broke: the connection is unusable, unlike an 08xxx raised by, say, dblink inside a query.
const SESSION_ENDING_SQLSTATES = new Set(["57P01", "57P02", "57P03", "57P05", "25P04"]);
const SESSION_ENDING_DRIVER_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);

/** True when the error means the connection a transaction ran on is gone. */
export function isSessionLost(error: unknown): boolean {
  const code = error && typeof error === "object" ? (error as DriverError).code : undefined;
  return (
    typeof code === "string" && (SESSION_ENDING_SQLSTATES.has(code) || SESSION_ENDING_DRIVER_CODES.has(code))
  );
}

/** A five-character SQLSTATE from a driver error (postgres.js and PGlite both use `code`). */
function sqlStateOf(error: unknown): string | undefined {
  const code = error && typeof error === "object" ? (error as DriverError).code : undefined;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** SQLSTATE → HTTP status, PostgREST Error.hs `pgErrorStatus` (v12.2 L466-516, same in v13/v14). */
export function pgErrorStatus(code: string, message: string, isAnon: boolean): number {
  const starts = (...prefixes: string[]) => prefixes.some((p) => code.startsWith(p));
  if (starts("08")) return 503;
  if (starts("09")) return 500;
  if (starts("0L", "0P")) return 403;
  if (code === "23503" || code === "23505") return 409;
  if (code === "25006") return 405;
  if (code === "21000") return message.includes("requires a WHERE clause") ? 400 : 500;
  if (starts("25")) return 500;
  if (starts("28")) return 403;
  if (starts("2D", "38", "39", "3B", "40")) return 500;
  if (code === "53400") return 500;
  if (starts("53")) return 503;
  if (starts("54", "55")) return 500;
  if (code === "57P01") return 503;
  if (starts("57", "58", "F0", "HV")) return 500;
  if (code === "P0001") return 400;
  if (starts("P0", "XX")) return 500;
  if (code === "42883" || code === "42P01") return 404;
  if (code === "42P17") return 500;
  if (code === "42501") return isAnon ? 401 : 403;
  // v13+: a JWT naming a role that does not exist is an authentication failure
  if (code === "22023" && /^role ".*" does not exist$/.test(message)) return 401;
  const pt = /^PT(\d{3})$/.exec(code);
  if (pt?.[1]) return Number(pt[1]);
  return 400;
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `RAISE SQLSTATE 'PGRST' USING message = '<json>', detail = '<json>'`: the function picks everything. */
function raisedPgrst(error: DriverError): PgrstError {
  const raw = { message: str(error.message) ?? "", detail: str(error.detail) ?? "" };
  let body: unknown;
  let meta: unknown;
  try {
    body = JSON.parse(raw.message);
    meta = JSON.parse(raw.detail);
  } catch {
    body = undefined;
  }
  const status = isRecord(meta) ? meta.status : undefined;
  if (!isRecord(body) || typeof body.message !== "string" || !isRecord(meta) || typeof status !== "number") {
    return new PgrstError(500, {
      code: "PGRST121",
      message: "Could not parse JSON in the RAISE SQLSTATE 'PGRST' error",
      details: `Invalid JSON value for MESSAGE: '${raw.message}', DETAIL: '${raw.detail}'`,
      hint: "MESSAGE must be a JSON object with obligatory key: 'message' and optional keys: 'code', 'details', 'hint'. DETAIL must be a JSON object with obligatory keys: 'status', 'headers'.",
    });
  }
  const headers: Record<string, string> = {};
  if (isRecord(meta.headers)) {
    for (const [name, value] of Object.entries(meta.headers))
      if (typeof value === "string") headers[name] = value;
  }
  return new PgrstError(
    status,
    { code: str(body.code) ?? "", message: body.message, details: str(body.details), hint: str(body.hint) },
    { headers, ...(typeof meta.status_text === "string" ? { statusText: meta.status_text } : {}) },
  );
}

/** Any error thrown while running a request's SQL, as the response PostgREST would give. */
export function toPgrstError(error: unknown, isAnon: boolean): PgrstError {
  if (error instanceof PgrstError) return error;
  if (isConnectionFailure(error)) {
    return new PgrstError(
      503,
      {
        code: "PGRST000",
        message:
          "Could not connect with the database due to an incorrect db-uri or due to the PostgreSQL service not running.",
        details: error instanceof Error ? error.message : String(error),
      },
      { cause: error },
    );
  }
  const code = sqlStateOf(error);
  if (!code) {
    // a bug here, not a database answer: say so instead of pretending to be PostgreSQL
    return new PgrstError(
      500,
      { code: "PGRST000", message: "Internal error in the local Supabase endpoint", details: String(error) },
      { cause: error },
    );
  }
  const e = error as DriverError;
  if (code === "PGRST") return raisedPgrst(e);
  const message = str(e.message) ?? "";
  const status = pgErrorStatus(code, message, isAnon);
  return new PgrstError(
    status,
    { code, message, details: str(e.detail), hint: str(e.hint) },
    { cause: error, ...(/^PT\d{3}$/.test(code) ? { statusText: message } : {}) },
  );
}
