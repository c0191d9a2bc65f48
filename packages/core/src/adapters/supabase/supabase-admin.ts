import { type ApiKeyScope, generateApiKey } from "../../domain/auth/api-key";
import type { SupabaseRpc } from "./supabase-rpc";

export interface TenantRecord {
  id: string;
  name: string;
  created_at: string;
}

export interface ApiKeyRecord {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  scopes: string[];
  created_at: string;
}

/** A pricing file: `infra/supabase/seed/pricing.json` and its like. Prices are decimal strings. */
export interface PricingFile {
  as_of: string;
  prices: {
    provider: string;
    model: string;
    input_usd_per_mtok: string;
    output_usd_per_mtok: string;
    cached_input_usd_per_mtok?: string | null;
    context_window_tokens?: number | null;
  }[];
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** Throws a message naming the bad row; money is never accepted as a float. */
export function parsePricingFile(raw: unknown, name: string): PricingFile {
  const doc = raw as Partial<PricingFile> | null;
  if (
    !doc ||
    typeof doc.as_of !== "string" ||
    Number.isNaN(Date.parse(doc.as_of)) ||
    !Array.isArray(doc.prices)
  ) {
    throw new Error(`${name}: expected { "as_of": "YYYY-MM-DD", "prices": [...] }`);
  }
  for (const p of doc.prices) {
    for (const f of ["input_usd_per_mtok", "output_usd_per_mtok"] as const) {
      if (typeof p?.[f] !== "string" || !DECIMAL.test(p[f])) {
        throw new Error(`${name}: ${p?.provider}/${p?.model} ${f} must be a decimal string`);
      }
    }
    const cached = p.cached_input_usd_per_mtok;
    if (cached !== undefined && cached !== null && (typeof cached !== "string" || !DECIMAL.test(cached))) {
      throw new Error(`${name}: ${p.provider}/${p.model} cached_input_usd_per_mtok must be a decimal string`);
    }
  }
  return doc as PricingFile;
}

/** Admin operations (CLI, seeding), through the same RPC path as the API, with the service role. */
export class SupabaseAdmin {
  constructor(private readonly rpc: SupabaseRpc) {}

  createTenant(name: string): Promise<TenantRecord> {
    return this.rpc.call<TenantRecord>("create_tenant", { p_name: name });
  }

  /** Creates a key; the full key is in the result and nowhere else, ever. */
  async createApiKey(
    tenantId: string,
    scopes: readonly ApiKeyScope[],
    name = "default",
  ): Promise<ApiKeyRecord & { key: string }> {
    const generated = generateApiKey();
    const record = await this.rpc.call<ApiKeyRecord>("create_api_key", {
      p_tenant_id: tenantId,
      p_prefix: generated.prefix,
      p_key_hash: generated.hash,
      p_scopes: scopes,
      p_name: name,
    });
    return { ...record, key: generated.key };
  }

  /** Loads every price of a pricing file, effective from its `as_of` date (idempotent). */
  async loadPricing(doc: PricingFile): Promise<number> {
    const effectiveFrom = new Date(`${doc.as_of.slice(0, 10)}T00:00:00Z`).toISOString();
    for (const p of doc.prices) {
      await this.rpc.call("set_model_price", {
        p_provider: p.provider,
        p_model: p.model,
        p_input_usd_per_mtok: p.input_usd_per_mtok,
        p_output_usd_per_mtok: p.output_usd_per_mtok,
        p_cached_input_usd_per_mtok: p.cached_input_usd_per_mtok ?? null,
        p_effective_from: effectiveFrom,
        p_context_window_tokens: p.context_window_tokens ?? null,
      });
    }
    return doc.prices.length;
  }

  /** Sets a key's own request limit (null lifts it); returns the hash so the auth cache entry can go. */
  setApiKeyLimit(
    tenantId: string,
    keyId: string,
    requestsPerMinute: number | null,
  ): Promise<{ id: string; prefix: string; requests_per_minute: number | null; key_hash: string }> {
    return this.rpc.call("set_api_key_limit", {
      p_tenant_id: tenantId,
      p_key_id: keyId,
      p_requests_per_minute: requestsPerMinute,
    });
  }

  listApiKeys(tenantId: string): Promise<(ApiKeyRecord & { revoked_at: string | null })[]> {
    return this.rpc.call("list_api_keys", { p_tenant_id: tenantId });
  }

  /** Revokes a key and returns its hash, so the caller can drop the auth cache entry at once. */
  revokeApiKey(
    tenantId: string,
    keyId: string,
  ): Promise<{ id: string; prefix: string; revoked_at: string; key_hash: string }> {
    return this.rpc.call("revoke_api_key", { p_tenant_id: tenantId, p_key_id: keyId });
  }
}
