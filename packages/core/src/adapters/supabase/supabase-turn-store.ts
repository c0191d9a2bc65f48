import type {
  BeginTurnInput,
  BeginTurnResult,
  CompleteTurnInput,
  FailTurnInput,
  TurnRecord,
  TurnStore,
} from "../../domain/ports/turn-store.port";
import type { SupabaseRpc } from "./supabase-rpc";

/** The two-RPC turn (plus fail_turn) over Supabase. */
export class SupabaseTurnStore implements TurnStore {
  constructor(private readonly rpc: SupabaseRpc) {}

  begin(i: BeginTurnInput): Promise<BeginTurnResult> {
    return this.rpc.call<BeginTurnResult>("begin_turn", {
      p_tenant_id: i.tenantId,
      p_kind: i.kind,
      p_request_hash: i.requestHash,
      p_model: i.model,
      p_conversation_id: i.conversationId ?? null,
      p_path: i.path ?? "main",
      p_content: i.content ?? null,
      p_idempotency_key: i.idempotencyKey,
      p_max_output_tokens: i.maxOutputTokens,
      p_estimated_input_tokens: i.estimatedInputTokens,
      p_lease_seconds: i.leaseSeconds,
    });
  }

  complete(i: CompleteTurnInput): Promise<TurnRecord> {
    return this.rpc.call<TurnRecord>("complete_turn", {
      p_tenant_id: i.tenantId,
      p_turn_id: i.turnId,
      p_attempt: i.attempt,
      p_pricing_id: i.pricingId,
      p_content: i.content,
      p_input_tokens: i.inputTokens,
      p_output_tokens: i.outputTokens,
      p_cached_input_tokens: i.cachedInputTokens,
      p_finish_reason: i.finishReason,
    });
  }

  async fail(i: FailTurnInput): Promise<void> {
    await this.rpc.call("fail_turn", {
      p_tenant_id: i.tenantId,
      p_turn_id: i.turnId,
      p_attempt: i.attempt,
      p_error: i.error,
      p_pricing_id: i.charge?.pricingId ?? null,
      p_input_tokens: i.charge?.inputTokens ?? null,
      p_output_tokens: i.charge?.outputTokens ?? null,
      p_cached_input_tokens: i.charge?.cachedInputTokens ?? 0,
    });
  }
}
