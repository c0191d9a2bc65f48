import type { SupabaseClient } from "@supabase/supabase-js";
import type { Log } from "../../domain/ports/logger.port";
import type { Metrics } from "../../domain/ports/metrics.port";
import type { ErrorCode } from "../../errors";
import { CandorError, DependencyUnavailableError } from "../../errors";
import type { DependencyStatus } from "../../observability/dependency-status";
import { markSpanFailed, withSpan } from "../../observability/tracing";

interface PostgrestErrorBody {
  code?: string;
  message?: string;
  details?: string | null;
  hint?: string | null;
}

/** HTTP statuses that the RPC functions raise on purpose (`RAISE SQLSTATE 'PTxyz'`) and what they mean. */
const DOMAIN_STATUS: Record<number, ErrorCode> = {
  400: "invalid_request",
  402: "budget_exceeded",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  429: "rate_limited",
  503: "pricing_unavailable",
};

export interface SupabaseRpcOptions {
  client: SupabaseClient;
  metrics: Metrics;
  log: Log;
  status: DependencyStatus;
}

/**
 * Calls Postgres functions through PostgREST and turns every outcome into data or a CandorError.
 * Always POST: PostgREST picks a read-only transaction for STABLE functions itself, and POSTs are
 * never retried by postgrest-js (its GET retries wait 1/2/4 s, too long for a fail-fast path).
 */
export class SupabaseRpc {
  constructor(private readonly o: SupabaseRpcOptions) {}

  async call<T>(fn: string, args: Record<string, unknown> = {}): Promise<T> {
    const started = performance.now();
    // the span names the function, never its arguments (they can hold prompts)
    const res = await withSpan(
      `supabase.rpc ${fn}`,
      { "db.system.name": "postgresql", "db.operation.name": fn },
      async (span) => {
        const r = await this.o.client.rpc(fn, args);
        span.setAttribute("http.response.status_code", r.status);
        if (r.error) markSpanFailed(span, r.status === 0 ? "network" : `http_${r.status}`);
        return r;
      },
    );
    const ms = performance.now() - started;
    this.o.metrics.timing("database_query_duration", ms);
    const status = res.status;
    if (!res.error) {
      this.o.status.report("up");
      return res.data as T;
    }
    const err = res.error as PostgrestErrorBody;
    if (status === 0) {
      const aborted = /abort/i.test(String(err.hint ?? "") + String(err.message ?? ""));
      this.o.status.report("down", { reason: aborted ? "timeout" : "network" });
      if (aborted) {
        throw new CandorError("store_timeout", "The database did not answer in time", {
          retryAfterSeconds: 2,
        });
      }
      throw new DependencyUnavailableError("supabase", "The database is unreachable");
    }
    const code = err.code ?? "";
    if (!code.startsWith("PT") && (status >= 500 || code.startsWith("PGRST") || status === 401)) {
      // the store is down, misconfigured (unknown function, bad service key) or failing: fail closed
      this.o.status.report(status >= 500 ? "down" : "up", { reason: `http_${status}`, code });
      // an outage is logged once, on the state change; a misconfiguration on every call
      if (status < 500)
        this.o.log.error("database call rejected by configuration", { rpc: fn, status, code });
      throw new DependencyUnavailableError("supabase", "The database is unavailable");
    }
    this.o.status.report("up");
    const domainCode = code.startsWith("PT")
      ? DOMAIN_STATUS[status]
      : status === 409
        ? "conflict"
        : undefined;
    const details = parseDetails(err.details);
    // only our own raised messages reach the client; a raw Postgres message stays in the log
    const message = code.startsWith("PT")
      ? (err.message ?? "Request rejected")
      : "The request was rejected by the store";
    if (!code.startsWith("PT")) this.o.log.warn("database rejected a call", { rpc: fn, status, code });
    throw new CandorError(domainCode ?? "invalid_request", message, {
      param: typeof details?.param === "string" ? details.param : null,
      ...(details ? { details } : {}),
    });
  }
}

function parseDetails(raw: string | null | undefined): Record<string, unknown> | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
