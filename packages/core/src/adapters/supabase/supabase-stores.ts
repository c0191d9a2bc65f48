import type { ApiKeyPrincipal, AuthStore, HealthStore } from "../../domain/ports/store.port";
import type { SupabaseRpc } from "./supabase-rpc";

interface AuthRow {
  key_id: string;
  tenant_id: string;
  scopes: string[];
  prefix: string;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  key_requests_per_minute?: number | null;
}

export class SupabaseAuthStore implements AuthStore {
  constructor(private readonly rpc: SupabaseRpc) {}

  async findActiveKey(keyHash: string): Promise<ApiKeyPrincipal | null> {
    const row = await this.rpc.call<AuthRow | null>("authenticate_api_key", { p_key_hash: keyHash });
    if (!row) return null;
    return {
      keyId: row.key_id,
      tenantId: row.tenant_id,
      scopes: row.scopes,
      prefix: row.prefix,
      requestsPerMinute: row.requests_per_minute,
      tokensPerMinute: row.tokens_per_minute,
      keyRequestsPerMinute: row.key_requests_per_minute ?? null,
    };
  }
}

export class SupabaseHealthStore implements HealthStore {
  constructor(private readonly rpc: SupabaseRpc) {}

  async ping(): Promise<void> {
    await this.rpc.call("health_check");
  }
}
