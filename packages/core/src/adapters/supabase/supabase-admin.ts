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
