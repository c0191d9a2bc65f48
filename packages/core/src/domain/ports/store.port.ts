/** The system of record, as the use cases see it. Implemented over Supabase RPC. */
export interface ApiKeyPrincipal {
  keyId: string;
  tenantId: string;
  scopes: string[];
  prefix: string;
  /** The tenant's limits, read with the key (cached with it for at most the auth TTL). */
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  /** This key's own request limit, under the tenant's (null: only the tenant's applies). */
  keyRequestsPerMinute: number | null;
}

export interface AuthStore {
  /** The live key with this sha-256 hash, or null when unknown or revoked. Throws when the store fails. */
  findActiveKey(keyHash: string): Promise<ApiKeyPrincipal | null>;
}

export interface HealthStore {
  /** Resolves when the store answers a trivial query; throws otherwise. */
  ping(): Promise<void>;
}
