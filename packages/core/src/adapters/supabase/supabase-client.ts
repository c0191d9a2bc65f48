import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import WebSocket from "ws";

export interface SupabaseClientOptions {
  url: string;
  serviceRoleKey: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/**
 * The service-role client, built once per cold start by the composition root.
 * Node 20 has no global WebSocket and supabase-js refuses to start without a transport; Candor does
 * not use Supabase Realtime (the realtime service LISTENs on Postgres), so `ws` is only a formality.
 */
export function createSupabaseServiceClient(options: SupabaseClientOptions): SupabaseClient {
  return createClient(options.url, options.serviceRoleKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    db: { timeout: options.timeoutMs },
    realtime: { transport: WebSocket as never },
    global: options.fetch ? { fetch: options.fetch } : {},
  });
}
