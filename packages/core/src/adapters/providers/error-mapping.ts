import { ProviderError, type ProviderFailure } from "../../domain/ports/model-provider.port";

interface SdkErrorLike {
  status?: number;
  name?: string;
  headers?: Headers | Record<string, string | null | undefined>;
  message?: string;
}

function header(headers: SdkErrorLike["headers"], name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  return (headers as Record<string, string | undefined>)[name] ?? undefined;
}

/**
 * Both official SDKs throw APIError subclasses with `status` and `headers`, APIConnectionError and
 * APIConnectionTimeoutError without a status, and APIUserAbortError on abort. Messages are ours:
 * a provider's message can echo the prompt.
 */
export function toProviderError(provider: string, error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  const e = (error ?? {}) as SdkErrorLike;
  const name = e.name ?? "";
  let failure: ProviderFailure;
  if (name.includes("Timeout")) failure = "timeout";
  else if (name.includes("UserAbort") || name === "AbortError") failure = "aborted";
  else if (name.includes("Connection")) failure = "connection";
  else if (e.status === 429 || e.status === 529) failure = "rate_limited";
  else if (e.status === 401 || e.status === 403) failure = "auth";
  else if (e.status !== undefined && e.status >= 500) failure = "server";
  else if (e.status !== undefined && e.status >= 400) failure = "bad_request";
  else failure = "bad_response";
  const retryAfter = Number(header(e.headers, "retry-after"));
  return new ProviderError(failure, `${provider}: ${failure}${e.status ? ` (HTTP ${e.status})` : ""}`, {
    ...(e.status !== undefined ? { status: e.status } : {}),
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterSeconds: retryAfter } : {}),
    cause: error,
  });
}

/** A body that parsed but is not what the API promises is a provider failure, not a crash. */
export function badResponse(provider: string, what: string): ProviderError {
  return new ProviderError("bad_response", `${provider}: malformed response (${what})`);
}

export const nonNegativeInt = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : undefined;
